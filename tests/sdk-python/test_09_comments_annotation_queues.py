"""Comments and annotation queues through the SDK's REST client (`langfuse.api.comments`,
`langfuse.api.annotation_queues`, whose pydantic models check every response), and
glassbox's bulk endpoint queuing the traces the SDK sent."""

from __future__ import annotations

import secrets

import pytest
from langfuse import propagate_attributes

from read_api import Scenario, attempt


def _status_of(call) -> int:
    from langfuse.api.core.api_error import ApiError

    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.status_code


@pytest.fixture(scope="module")
def traced(langfuse, _read_api):
    lf = langfuse
    session_id = f"review-session-{secrets.token_hex(4)}"
    trace_ids, observation_ids = [], []
    for index in range(3):
        with lf.start_as_current_observation(name=f"to-review-{index}") as root:
            with propagate_attributes(session_id=session_id):
                with lf.start_as_current_observation(name="step") as step:
                    observation_ids.append(step.id)
            trace_ids.append(root.trace_id)
    lf.flush()
    traces = [attempt(lambda t=t: _read_api.wait_trace(t, observations=2)) for t in trace_ids]
    return Scenario(session_id=session_id, trace_ids=trace_ids, observation_ids=observation_ids,
                    traces=traces)


def test_comments_on_sdk_objects(traced, langfuse, server):
    for trace in traced["traces"]:
        assert trace["id"]  # raises if the trace never became readable
    comments = langfuse.api.comments
    trace_id, observation_id = traced["trace_ids"][0], traced["observation_ids"][0]
    on_trace = comments.create(project_id=server.project_id, object_type="TRACE",
                               object_id=trace_id, content="  needs a second look  ")
    on_observation = comments.create(project_id=server.project_id, object_type="OBSERVATION",
                                     object_id=observation_id, content="**tool call** failed")
    on_session = comments.create(project_id=server.project_id, object_type="SESSION",
                                 object_id=traced["session_id"], content="fine overall")

    stored = comments.get_by_id(on_trace.id)
    assert stored.object_type == "TRACE" and stored.object_id == trace_id
    assert stored.content == "needs a second look"
    assert stored.project_id == server.project_id
    assert stored.author_user_id is None

    listed = comments.get(object_type="TRACE", object_id=trace_id)
    assert [c.id for c in listed.data] == [on_trace.id]
    assert listed.meta.total_items == 1
    listed = comments.get(object_type="OBSERVATION", object_id=observation_id)
    assert [c.content for c in listed.data] == ["**tool call** failed"]
    listed = comments.get(object_type="SESSION", object_id=traced["session_id"])
    assert [c.id for c in listed.data] == [on_session.id]
    assert on_observation.id != on_trace.id

    assert _status_of(lambda: comments.create(
        project_id=server.project_id, object_type="TRACE", object_id="no-such-trace",
        content="x")) == 404
    assert _status_of(lambda: comments.create(
        project_id=server.project_id, object_type="TRACE", object_id=trace_id, content=" ")) == 400
    assert _status_of(lambda: comments.get_by_id("no-such-comment")) == 404


def test_annotation_queue_of_sdk_traces(traced, langfuse, api):
    for trace in traced["traces"]:
        assert trace["id"]
    queues = langfuse.api.annotation_queues
    suffix = secrets.token_hex(3)
    config = langfuse.api.score_configs.create(name=f"review {suffix}", data_type="TEXT")
    queue = queues.create_queue(name=f"review {suffix}", description="SDK traces",
                                score_config_ids=[config.id])
    assert queue.score_config_ids == [config.id]
    assert queues.get_queue(queue.id).name == f"review {suffix}"
    assert queue.id in [q.id for q in queues.list_queues(limit=100).data]
    assert _status_of(lambda: queues.create_queue(
        name=f"review {suffix}", score_config_ids=[config.id])) == 400
    assert _status_of(lambda: queues.create_queue(
        name=f"other {suffix}", score_config_ids=["no-such-config"])) == 400

    first = queues.create_queue_item(queue.id, object_id=traced["trace_ids"][0],
                                     object_type="TRACE")
    assert first.status == "PENDING" and first.completed_at is None
    session_item = queues.create_queue_item(queue.id, object_id=traced["session_id"],
                                            object_type="SESSION", status="COMPLETED")
    assert session_item.completed_at is not None

    # glassbox's bulk endpoint: the other SDK traces by id (the first one is skipped).
    res = api.request("POST", f"/api/public/annotation-queues/{queue.id}/items/bulk",
                      body={"objectType": "TRACE", "objectIds": traced["trace_ids"]})
    assert res.status == 200, res.text
    assert (res.json["created"], res.json["skipped"]) == (2, 1)

    pending = queues.list_queue_items(queue.id, status="PENDING")
    assert pending.meta.total_items == 3
    assert sorted(i.object_id for i in pending.data) == sorted(traced["trace_ids"])
    done = queues.update_queue_item(queue.id, first.id, status="COMPLETED")
    assert done.status == "COMPLETED" and done.completed_at is not None
    assert queues.get_queue_item(queue.id, first.id).status == "COMPLETED"
    assert queues.list_queue_items(queue.id, status="COMPLETED").meta.total_items == 2

    deleted = queues.delete_queue_item(queue.id, session_item.id)
    assert deleted.success is True
    assert _status_of(lambda: queues.get_queue_item(queue.id, session_item.id)) == 404
    assert queues.list_queue_items(queue.id).meta.total_items == 3

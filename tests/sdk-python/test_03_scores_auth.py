"""Scores through the SDK (→ `POST /api/public/scores` with a JSON array, answered
202/207), `auth_check()` / `get_trace_url()` (→ `GET /api/public/projects`) and flush."""

from __future__ import annotations

import secrets

import pytest

from checks import assert_subset, parse_time
from read_api import Scenario, attempt
from sdk_logs import SDK_LOGS


@pytest.fixture(scope="module")
def scenario(langfuse, _read_api):
    lf = langfuse
    mark = SDK_LOGS.mark()
    session_id = f"score-session-{secrets.token_hex(4)}"
    fixed_id = f"score-fixed-{secrets.token_hex(6)}"
    with lf.start_as_current_observation(name="scored-request") as root:
        trace_id = root.trace_id
        with lf.start_as_current_observation(as_type="generation", name="scored-gen", model="gpt-4o") as gen:
            gen_id = gen.id
            lf.score_current_span(name="span-quality", value=0.7, comment="current span")
            gen.score(name="gen-helpfulness", value=1, data_type="BOOLEAN")
        lf.score_current_trace(name="user-feedback", value=1, comment="thumbs up", data_type="NUMERIC")
        root.score_trace(name="trace-category", value="good", data_type="CATEGORICAL")
    lf.create_score(
        name="accuracy",
        value=0.92,
        trace_id=trace_id,
        score_id=fixed_id,
        data_type="NUMERIC",
        comment="numeric with metadata",
        metadata={"judge": "gpt-4o", "run": 3},
    )
    lf.create_score(
        name="sentiment",
        value="positive",
        trace_id=trace_id,
        observation_id=gen_id,
        data_type="CATEGORICAL",
        comment="categorical on observation",
    )
    lf.create_score(name="is-correct", value=0, trace_id=trace_id, data_type="BOOLEAN")
    lf.create_score(name="untyped-number", value=3.5, trace_id=trace_id)
    lf.create_score(name="review", value="concise and correct", trace_id=trace_id, data_type="TEXT")
    lf.create_score(name="session-rating", value=4, session_id=session_id, data_type="NUMERIC")
    lf.flush()
    trace = attempt(lambda: _read_api.wait_trace(trace_id, observations=2, scores=9))
    return Scenario(
        trace_id=trace_id,
        gen_id=gen_id,
        session_id=session_id,
        fixed_id=fixed_id,
        trace=trace,
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def _scores_by_name(scores: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for s in scores:
        assert s["name"] not in out, f"duplicate score {s['name']}: {scores}"
        out[s["name"]] = s
    return out


def test_auth_check(langfuse):
    assert langfuse.auth_check() is True


def test_get_trace_url_uses_project_id(langfuse, server):
    trace_id = langfuse.create_trace_id()
    url = langfuse.get_trace_url(trace_id=trace_id)
    assert url is not None
    assert server.project_id in url and url.endswith(trace_id), url


def test_sdk_reported_no_errors(scenario):
    assert scenario["sdk_errors"] == [], "the SDK logged problems while sending scores/spans"


def test_trace_scores_embedded(scenario):
    trace = scenario["trace"]
    scores = _scores_by_name(trace["scores"])
    # session scores are not trace scores
    assert set(scores) == {
        "span-quality", "gen-helpfulness", "user-feedback", "trace-category",
        "accuracy", "sentiment", "is-correct", "untyped-number", "review",
    }
    for s in scores.values():
        assert s["traceId"] == scenario["trace_id"], s
        assert s["source"] == "API", s

    assert scores["span-quality"]["observationId"] == scenario["gen_id"]
    assert scores["span-quality"]["value"] == pytest.approx(0.7)
    assert scores["span-quality"]["dataType"] == "NUMERIC"
    assert scores["span-quality"]["comment"] == "current span"

    assert scores["gen-helpfulness"]["observationId"] == scenario["gen_id"]
    assert scores["gen-helpfulness"]["dataType"] == "BOOLEAN"
    assert scores["gen-helpfulness"]["value"] == 1
    assert scores["gen-helpfulness"]["stringValue"] == "True"

    assert scores["user-feedback"]["observationId"] is None
    assert scores["user-feedback"]["dataType"] == "NUMERIC"
    assert scores["user-feedback"]["value"] == 1
    assert scores["user-feedback"]["comment"] == "thumbs up"

    assert scores["trace-category"]["observationId"] is None
    assert scores["trace-category"]["dataType"] == "CATEGORICAL"
    assert scores["trace-category"]["stringValue"] == "good"

    accuracy = scores["accuracy"]
    assert accuracy["id"] == scenario["fixed_id"], "a client-given score id is kept"
    assert accuracy["value"] == pytest.approx(0.92)
    assert accuracy["comment"] == "numeric with metadata"
    assert_subset(accuracy["metadata"], {"judge": "gpt-4o", "run": 3}, "score metadata")

    assert scores["sentiment"]["observationId"] == scenario["gen_id"]
    assert scores["sentiment"]["dataType"] == "CATEGORICAL"
    assert scores["sentiment"]["stringValue"] == "positive"

    assert scores["is-correct"]["dataType"] == "BOOLEAN"
    assert scores["is-correct"]["value"] == 0
    assert scores["is-correct"]["stringValue"] == "False"

    assert scores["untyped-number"]["dataType"] == "NUMERIC", "no dataType + number → NUMERIC"
    assert scores["untyped-number"]["value"] == pytest.approx(3.5)

    assert scores["review"]["dataType"] == "TEXT"
    assert scores["review"]["stringValue"] == "concise and correct"


def test_v2_scores_by_trace_and_session(scenario, api):
    res = api.scores_v2(traceId=scenario["trace_id"], limit=50)
    assert res.status == 200, res.text
    assert res.json["meta"]["totalItems"] == 9
    names = sorted(s["name"] for s in res.json["data"])
    assert "session-rating" not in names and len(names) == 9

    res = api.scores_v2(sessionId=scenario["session_id"])
    assert res.status == 200, res.text
    (session_score,) = res.json["data"]
    assert session_score["name"] == "session-rating"
    assert session_score["sessionId"] == scenario["session_id"]
    assert session_score["traceId"] is None
    assert session_score["value"] == 4

    res = api.scores_v2(traceId=scenario["trace_id"], dataType="CATEGORICAL")
    assert res.status == 200, res.text
    assert sorted(s["name"] for s in res.json["data"]) == ["sentiment", "trace-category"]

    res = api.scores_v2(traceId=scenario["trace_id"], observationId=scenario["gen_id"])
    assert res.status == 200, res.text
    assert sorted(s["name"] for s in res.json["data"]) == ["gen-helpfulness", "sentiment", "span-quality"]


def test_score_by_fixed_id(scenario, api):
    res = api.get(f"/api/public/v2/scores/{scenario['fixed_id']}")
    assert res.status == 200, res.text
    assert res.json["name"] == "accuracy"
    assert res.json["traceId"] == scenario["trace_id"]


def test_scored_trace_observations(scenario):
    obs = {o["name"]: o for o in scenario["trace"]["observations"]}
    assert set(obs) == {"scored-request", "scored-gen"}
    assert obs["scored-gen"]["type"] == "GENERATION"
    assert obs["scored-gen"]["model"] == "gpt-4o"
    assert obs["scored-gen"]["parentObservationId"] == obs["scored-request"]["id"]


# ---------------------------------------------------------------------------------------
# v3 reads of the scores above, and the flows with a score config, a dataset run target,
# a CORRECTION and an environment.
# ---------------------------------------------------------------------------------------


def test_v3_scores_typed_values_and_subjects(scenario, api):
    res = api.get("/api/public/v3/scores", traceId=scenario["trace_id"], limit=50,
                  fields="core,details,subject,annotation")
    assert res.status == 200, res.text
    scores = _scores_by_name(res.json["data"])
    assert len(scores) == 9
    assert "cursor" not in res.json["meta"]
    # v3 types the value by data type: numbers, booleans, strings.
    assert scores["span-quality"]["value"] == pytest.approx(0.7)
    assert scores["gen-helpfulness"]["value"] is True
    assert scores["is-correct"]["value"] is False
    assert scores["trace-category"]["value"] == "good"
    assert scores["review"]["value"] == "concise and correct"
    assert scores["untyped-number"]["value"] == pytest.approx(3.5)
    assert scores["span-quality"]["subject"] == {
        "kind": "observation", "id": scenario["gen_id"], "traceId": scenario["trace_id"]}
    assert scores["user-feedback"]["subject"] == {"kind": "trace", "id": scenario["trace_id"]}
    assert scores["accuracy"]["id"] == scenario["fixed_id"]
    assert scores["accuracy"]["comment"] == "numeric with metadata"
    assert_subset(scores["accuracy"]["metadata"], {"judge": "gpt-4o", "run": 3}, "v3 metadata")
    assert scores["accuracy"]["source"] == "API"
    assert scores["accuracy"]["authorUserId"] is None and scores["accuracy"]["queueId"] is None

    res = api.get("/api/public/v3/scores", sessionId=scenario["session_id"], fields="subject")
    assert res.status == 200, res.text
    (session_score,) = res.json["data"]
    assert session_score["subject"] == {"kind": "session", "id": scenario["session_id"]}
    assert session_score["value"] == 4

    # Cursor pagination visits each of the trace's scores once.
    seen, cursor = [], None
    for _ in range(10):
        res = api.get("/api/public/v3/scores", traceId=scenario["trace_id"], limit=4, cursor=cursor)
        assert res.status == 200, res.text
        seen += [s["id"] for s in res.json["data"]]
        cursor = res.json["meta"].get("cursor")
        if not cursor:
            break
    assert len(seen) == 9 and len(set(seen)) == 9, seen


@pytest.fixture(scope="module")
def config_scenario(langfuse, _read_api):
    from datetime import datetime, timezone

    from langfuse.api import ConfigCategory

    lf = langfuse
    suffix = secrets.token_hex(3)
    # Score configs through the SDK's own REST client (its pydantic models check the shape).
    stars = lf.api.score_configs.create(
        name=f"stars {suffix}", data_type="NUMERIC", min_value=1, max_value=5,
        description="one to five stars")
    tone = lf.api.score_configs.create(
        name=f"tone {suffix}", data_type="CATEGORICAL",
        categories=[ConfigCategory(label="rude", value=0), ConfigCategory(label="kind", value=1)])
    correct = lf.api.score_configs.create(name=f"correct {suffix}", data_type="BOOLEAN")
    with lf.start_as_current_observation(name="config-scored") as root:
        trace_id, root_id = root.trace_id, root.id
    run_id = f"run-{suffix}"
    rejected_id = f"rejected-{suffix}"
    fixed_time = datetime(2025, 6, 1, 12, 30, 0, tzinfo=timezone.utc)
    mark = SDK_LOGS.mark()
    lf.create_score(name="any name", value=4, trace_id=trace_id, config_id=stars.id,
                    comment="four stars", metadata={"by": "sdk"}, timestamp=fixed_time)
    lf.create_score(name="any name", value="kind", trace_id=trace_id, config_id=tone.id)
    lf.create_score(name="any name", value=1, trace_id=trace_id, config_id=correct.id,
                    data_type="BOOLEAN")
    lf.create_score(name="any name", value=9, trace_id=trace_id, config_id=stars.id,
                    score_id=rejected_id)
    lf.create_score(name="run-accuracy", value=0.8, dataset_run_id=run_id, comment="run level")
    lf.create_score(name="output", value="the corrected answer", trace_id=trace_id,
                    observation_id=root_id, data_type="CORRECTION")
    lf.create_score(name="staged", value=2, trace_id=trace_id, environment="staging")
    lf.flush()
    trace = attempt(lambda: _read_api.wait_trace(trace_id, observations=1, scores=4))
    return Scenario(
        trace_id=trace_id, root_id=root_id, run_id=run_id, rejected_id=rejected_id,
        stars=stars, tone=tone, correct=correct, fixed_time=fixed_time, trace=trace,
        sdk_logs=SDK_LOGS.since(mark),
    )


def test_configs_created_through_the_sdk(config_scenario, api):
    stars, tone, correct = (config_scenario[k] for k in ("stars", "tone", "correct"))
    assert (stars.min_value, stars.max_value) == (1, 5)
    assert stars.description == "one to five stars"
    assert [(c.label, c.value) for c in tone.categories] == [("rude", 0), ("kind", 1)]
    assert [(c.label, c.value) for c in correct.categories] == [("True", 1), ("False", 0)]
    res = api.get(f"/api/public/score-configs/{stars.id}")
    assert res.status == 200, res.text
    assert res.json["name"] == stars.name and res.json["isArchived"] is False


def test_scores_with_config_take_its_name_and_values(config_scenario, api):
    sc = config_scenario
    res = api.scores_v2(traceId=sc["trace_id"], limit=50)
    assert res.status == 200, res.text
    by_config = {s["configId"]: s for s in res.json["data"] if s["configId"]}
    assert set(by_config) == {sc["stars"].id, sc["tone"].id, sc["correct"].id}

    stars = by_config[sc["stars"].id]
    assert stars["name"] == sc["stars"].name, "the config's name replaces the given one"
    assert stars["dataType"] == "NUMERIC" and stars["value"] == 4
    assert stars["comment"] == "four stars"
    assert_subset(stars["metadata"], {"by": "sdk"}, "config score metadata")
    assert parse_time(stars["timestamp"]) == sc["fixed_time"]

    tone = by_config[sc["tone"].id]
    assert tone["dataType"] == "CATEGORICAL"
    assert tone["stringValue"] == "kind" and tone["value"] == 1, "label mapped to its value"
    correct = by_config[sc["correct"].id]
    assert correct["dataType"] == "BOOLEAN"
    assert correct["value"] == 1 and correct["stringValue"] == "True"

    res = api.scores_v2(configId=sc["tone"].id)
    assert res.status == 200, res.text
    assert [s["name"] for s in res.json["data"]] == [sc["tone"].name]


def test_a_score_that_breaks_its_config_is_rejected_with_the_rule(config_scenario, api):
    sc = config_scenario
    res = api.get(f"/api/public/v2/scores/{sc['rejected_id']}")
    assert res.status == 404, res.text
    complaints = [line for line in sc["sdk_logs"] if "maximum" in line]
    assert complaints, f"the SDK should log the server's reason, got {sc['sdk_logs']}"
    assert sc["stars"].name in complaints[0]


def test_dataset_run_correction_and_environment_scores(config_scenario, api):
    sc = config_scenario
    res = api.scores_v2(datasetRunId=sc["run_id"])
    assert res.status == 200, res.text
    (run_score,) = res.json["data"]
    assert run_score["name"] == "run-accuracy" and run_score["value"] == pytest.approx(0.8)
    assert run_score["datasetRunId"] == sc["run_id"] and run_score["traceId"] is None
    assert run_score["comment"] == "run level"
    assert run_score["trace"] is None
    res = api.get("/api/public/v3/scores", experimentId=sc["run_id"], fields="subject")
    assert res.status == 200, res.text
    assert res.json["data"][0]["subject"] == {"kind": "experiment", "id": sc["run_id"]}

    res = api.scores_v2(traceId=sc["trace_id"], dataType="CORRECTION")
    assert res.status == 200, res.text
    (correction,) = res.json["data"]
    assert correction["name"] == "output"
    assert correction["stringValue"] == "the corrected answer"
    assert correction["observationId"] == sc["root_id"]
    # v1 and the trace's score list leave CORRECTION out.
    res = api.get("/api/public/scores", name="output", limit=100)
    assert res.status == 200, res.text
    assert all(s["traceId"] != sc["trace_id"] for s in res.json["data"]), res.json
    assert all(s["dataType"] != "CORRECTION" for s in sc["trace"]["scores"])

    res = api.scores_v2(traceId=sc["trace_id"], environment="staging")
    assert res.status == 200, res.text
    assert [s["name"] for s in res.json["data"]] == ["staged"]
    assert res.json["data"][0]["environment"] == "staging"


def test_archived_config_rejects_later_sdk_scores(config_scenario, langfuse, api):
    sc = config_scenario
    archived = langfuse.api.score_configs.update(sc["correct"].id, is_archived=True)
    assert archived.is_archived is True
    late_id = f"late-{secrets.token_hex(4)}"
    mark = SDK_LOGS.mark()
    langfuse.create_score(name="x", value=0, trace_id=sc["trace_id"], config_id=sc["correct"].id,
                          data_type="BOOLEAN", score_id=late_id)
    langfuse.flush()
    assert any("archived" in line for line in SDK_LOGS.since(mark)), SDK_LOGS.since(mark)
    assert api.get(f"/api/public/v2/scores/{late_id}").status == 404
    restored = langfuse.api.score_configs.update(sc["correct"].id, is_archived=False)
    assert restored.is_archived is False

"""Nested `@observe` functions, a generation with model/usage/cost/parameters/completion
start, `propagate_attributes(...)`, an event, and an ERROR span raised by an exception
(Python SDK 5.0.4 → OTLP protobuf on /api/public/otel/v1/traces)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from checks import assert_subset, maybe_json, parent_map, parse_time
from read_api import Scenario, attempt, by_name
from sdk_config import SDK_RELEASE
from sdk_logs import SDK_LOGS

QUESTION = "What is the capital of France?"
COMPLETION_START = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def scenario(langfuse, _read_api):
    from langfuse import observe, propagate_attributes

    mark = SDK_LOGS.mark()

    @observe(name="retrieve")
    def retrieve(question: str) -> list[str]:
        langfuse.create_event(
            name="cache-miss",
            input={"key": question},
            output={"hit": False},
            metadata={"cache": "redis"},
            level="WARNING",
            status_message="cache miss",
        )
        return ["doc1", "doc2"]

    @observe(name="llm-call", as_type="generation")
    def llm_call(messages: list[dict]) -> str:
        langfuse.update_current_generation(
            input=messages,
            model="gpt-4o-mini",
            model_parameters={"temperature": 0.2, "max_tokens": 256},
            usage_details={"input": 12, "output": 3, "total": 15},
            cost_details={"input": 0.0000018, "output": 0.0000018, "total": 0.0000036},
            completion_start_time=COMPLETION_START,
            metadata={"provider": "openai", "attempt": 1, "nested": {"a": [1, 2]}},
            version="gen-v1",
        )
        return "Paris"

    @observe(name="failing-step")
    def failing_step() -> None:
        raise ValueError("boom")

    @observe(name="handle-request")
    def handle_request(question: str, user: str) -> dict:
        with propagate_attributes(
            user_id=user,
            session_id="session-42",
            tags=["tag-a", "tag-b"],
            metadata={"tenant": "acme", "plan": "pro"},
            trace_name="qa-pipeline",
            version="app-1.2.3",
        ):
            langfuse.set_current_trace_as_public()
            langfuse.update_current_span(metadata={"docs": 2})
            docs = retrieve(question)
            answer = llm_call([{"role": "user", "content": question}])
            try:
                failing_step()
            except ValueError:
                pass
            return {"answer": answer, "docs": len(docs), "trace_id": langfuse.get_current_trace_id()}

    result = handle_request(QUESTION, user="user-123")
    langfuse.flush()
    trace_id = result["trace_id"]
    trace = attempt(lambda: _read_api.wait_trace(trace_id, observations=5))
    return Scenario(
        trace_id=trace_id,
        trace=trace,
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def test_sdk_reported_no_errors(scenario):
    assert scenario["sdk_errors"] == [], "the SDK logged export problems"


def test_trace_level_attributes(scenario):
    trace = scenario["trace"]
    assert trace["id"] == scenario["trace_id"]
    assert trace["name"] == "qa-pipeline", "langfuse.trace.name from propagate_attributes(trace_name=)"
    assert trace["userId"] == "user-123"
    assert trace["sessionId"] == "session-42"
    assert sorted(trace["tags"]) == ["tag-a", "tag-b"]
    assert trace["version"] == "app-1.2.3"
    assert trace["release"] == SDK_RELEASE, "Langfuse(release=) → langfuse.release"
    assert trace["environment"] == "default"
    assert trace["public"] is True, "set_current_trace_as_public() sends langfuse.trace.public=true"
    # Python 5 JSON-encodes every metadata value ("\"acme\""); the server decodes them.
    assert_subset(trace["metadata"], {"tenant": "acme", "plan": "pro"}, "trace metadata")


def test_trace_input_output_from_root_span(scenario):
    trace = scenario["trace"]
    assert trace["input"] == {"args": [QUESTION], "kwargs": {"user": "user-123"}}
    assert trace["output"] == {"answer": "Paris", "docs": 2, "trace_id": scenario["trace_id"]}


def test_observation_tree(scenario):
    observations = scenario["trace"]["observations"]
    assert sorted(o["name"] for o in observations) == [
        "cache-miss", "failing-step", "handle-request", "llm-call", "retrieve",
    ]
    assert parent_map(observations) == {
        "handle-request": None,
        "retrieve": "handle-request",
        "cache-miss": "retrieve",
        "llm-call": "handle-request",
        "failing-step": "handle-request",
    }
    types = {o["name"]: o["type"] for o in observations}
    assert types == {
        "handle-request": "SPAN",
        "retrieve": "SPAN",
        "cache-miss": "EVENT",
        "llm-call": "GENERATION",
        "failing-step": "SPAN",
    }
    for o in observations:
        assert o["traceId"] == scenario["trace_id"]
        # propagate_attributes(version=) applies to every span except the one that sets its own
        assert o["version"] == ("gen-v1" if o["name"] == "llm-call" else "app-1.2.3"), o["name"]


def test_decorated_function_io(scenario):
    obs = scenario["trace"]["observations"]
    root = by_name(obs, "handle-request")
    assert root["input"] == {"args": [QUESTION], "kwargs": {"user": "user-123"}}
    assert root["output"]["answer"] == "Paris"
    assert_subset(root["metadata"], {"docs": 2}, "handle-request metadata")
    retrieve = by_name(obs, "retrieve")
    assert retrieve["input"] == {"args": [QUESTION], "kwargs": {}}
    assert retrieve["output"] == ["doc1", "doc2"]
    assert retrieve["level"] == "DEFAULT"


def test_generation_fields(scenario):
    gen = by_name(scenario["trace"]["observations"], "llm-call")
    assert gen["type"] == "GENERATION"
    assert gen["model"] == "gpt-4o-mini"
    assert gen["input"] == [{"role": "user", "content": QUESTION}]
    assert gen["output"] == "Paris"
    assert_subset(gen["modelParameters"], {"temperature": 0.2, "max_tokens": 256}, "modelParameters")
    assert_subset(gen["usageDetails"], {"input": 12, "output": 3, "total": 15}, "usageDetails")
    assert_subset(gen["usage"], {"input": 12, "output": 3, "total": 15}, "usage")
    assert gen["promptTokens"] == 12 and gen["completionTokens"] == 3 and gen["totalTokens"] == 15
    assert_subset(
        gen["costDetails"], {"input": 0.0000018, "output": 0.0000018, "total": 0.0000036}, "costDetails"
    )
    assert gen["calculatedTotalCost"] == pytest.approx(0.0000036)
    assert parse_time(gen["completionStartTime"]) == COMPLETION_START
    assert_subset(
        gen["metadata"], {"provider": "openai", "attempt": 1, "nested": {"a": [1, 2]}}, "generation metadata"
    )
    start, end = parse_time(gen["startTime"]), parse_time(gen["endTime"])
    assert start is not None and end is not None and start <= end


def test_event_fields(scenario):
    event = by_name(scenario["trace"]["observations"], "cache-miss")
    assert event["type"] == "EVENT"
    assert event["level"] == "WARNING"
    assert event["statusMessage"] == "cache miss"
    assert event["input"] == {"key": QUESTION}
    assert event["output"] == {"hit": False}
    assert_subset(event["metadata"], {"cache": "redis"}, "event metadata")
    # An event is a span with start == end.
    assert event["endTime"] is None or parse_time(event["endTime"]) == parse_time(event["startTime"])


def test_error_span_from_exception(scenario):
    failing = by_name(scenario["trace"]["observations"], "failing-step")
    assert failing["level"] == "ERROR"
    assert failing["statusMessage"] == "boom"
    assert failing["input"] == {"args": [], "kwargs": {}}
    assert failing["output"] is None


def test_v1_observations_list(scenario, api):
    res = api.observations_v1(traceId=scenario["trace_id"], type="GENERATION")
    assert res.status == 200, res.text
    data = res.json["data"]
    assert [o["name"] for o in data] == ["llm-call"]
    assert data[0]["model"] == "gpt-4o-mini"
    assert res.json["meta"]["totalItems"] == 1

    res = api.observations_v1(traceId=scenario["trace_id"], level="ERROR")
    assert res.status == 200, res.text
    assert [o["name"] for o in res.json["data"]] == ["failing-step"]


def test_v2_observations(scenario, api):
    res = api.observations_v2(
        traceId=scenario["trace_id"],
        fields="core,basic,io,model,usage,metadata,trace_context",
        limit=50,
    )
    assert res.status == 200, res.text
    data = {o["name"]: o for o in res.json["data"]}
    assert set(data) == {"handle-request", "retrieve", "cache-miss", "llm-call", "failing-step"}
    for o in data.values():
        assert o["userId"] == "user-123", o["name"]
        assert o["sessionId"] == "session-42", o["name"]
        assert o["traceName"] == "qa-pipeline", o["name"]
        assert sorted(o["tags"]) == ["tag-a", "tag-b"], o["name"]
    assert data["handle-request"]["parentObservationId"] is None
    assert data["handle-request"]["isRootObservation"] is True
    assert data["retrieve"]["isRootObservation"] is False
    gen = data["llm-call"]
    assert gen["type"] == "GENERATION"
    assert gen["providedModelName"] == "gpt-4o-mini"
    assert_subset(gen["usageDetails"], {"input": 12, "output": 3, "total": 15}, "v2 usageDetails")
    assert gen["totalCost"] == pytest.approx(0.0000036)
    # io is returned as the raw stored string in v2
    assert maybe_json(gen["input"]) == [{"role": "user", "content": QUESTION}]
    assert maybe_json(gen["output"]) == "Paris"
    assert data["failing-step"]["level"] == "ERROR"
    assert data["failing-step"]["statusMessage"] == "boom"

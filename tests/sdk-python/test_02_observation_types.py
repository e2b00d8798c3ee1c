"""Every observation type through `start_as_current_observation(as_type=...)` (events
through `create_event`), child observations through `span.start_observation`, a seeded
trace id continued from a remote parent, and a standalone generation."""

from __future__ import annotations

import secrets

import pytest

from checks import assert_subset, maybe_json, parent_map, parse_time
from read_api import Scenario, attempt, by_name
from sdk_logs import SDK_LOGS

REMOTE_PARENT = "abcdefabcdef0123"

EXPECTED_TYPES = {
    "travel-agent": "AGENT",
    "plan-chain": "CHAIN",
    "vector-search": "RETRIEVER",
    "embed-query": "EMBEDDING",
    "plan-llm": "GENERATION",
    "book-hotel": "TOOL",
    "pii-check": "GUARDRAIL",
    "plan-quality": "EVALUATOR",
    "manual-span": "SPAN",
    "manual-generation": "GENERATION",
    "agent-event": "EVENT",
}

EXPECTED_PARENTS = {
    "travel-agent": None,
    "plan-chain": "travel-agent",
    "vector-search": "plan-chain",
    "embed-query": "plan-chain",
    "plan-llm": "plan-chain",
    "book-hotel": "travel-agent",
    "pii-check": "travel-agent",
    "plan-quality": "travel-agent",
    "manual-span": "travel-agent",
    "manual-generation": "manual-span",
    "agent-event": "travel-agent",
}


@pytest.fixture(scope="module")
def scenario(langfuse, _read_api):
    lf = langfuse
    mark = SDK_LOGS.mark()
    with lf.start_as_current_observation(
        as_type="agent", name="travel-agent", input={"goal": "book a trip"}, metadata={"agent_version": "2"}
    ) as agent:
        trace_id = agent.trace_id
        with lf.start_as_current_observation(as_type="chain", name="plan-chain", input="plan") as chain:
            with lf.start_as_current_observation(
                as_type="retriever", name="vector-search", input={"query": "hotels in Rome"}
            ) as retriever:
                retriever.update(output=[{"id": "h1", "score": 0.91}, {"id": "h2", "score": 0.87}])
            with lf.start_as_current_observation(
                as_type="embedding",
                name="embed-query",
                input="hotels in Rome",
                model="text-embedding-3-small",
                usage_details={"input": 4},
                cost_details={"input": 0.00000008},
            ) as embedding:
                embedding.update(output={"dims": 1536})
            with lf.start_as_current_observation(
                as_type="generation",
                name="plan-llm",
                model="claude-sonnet-4",
                model_parameters={"temperature": 0, "max_tokens": 1024},
                input=[{"role": "system", "content": "You plan trips."}, {"role": "user", "content": "Rome"}],
            ) as generation:
                generation.update(
                    output={"role": "assistant", "content": "Day 1: Colosseum"},
                    usage_details={"input": 20, "output": 8},
                )
            chain.update(output="planned")
        with lf.start_as_current_observation(
            as_type="tool", name="book-hotel", input={"hotel": "h1", "nights": 2}
        ) as tool:
            tool.update(output={"confirmation": "ABC123"})
        with lf.start_as_current_observation(
            as_type="guardrail", name="pii-check", input="Day 1: Colosseum", level="DEBUG"
        ) as guardrail:
            guardrail.update(output={"passed": True})
        with lf.start_as_current_observation(
            as_type="evaluator", name="plan-quality", input={"plan": "Day 1"}
        ) as evaluator:
            evaluator.update(output={"score": 0.8}, level="WARNING", status_message="borderline")
        with lf.start_as_current_observation(
            as_type="span", name="manual-span", input={"x": 1}, version="1.0"
        ) as span:
            child = span.start_observation(as_type="generation", name="manual-generation", model="gpt-4o")
            # OpenAI-shaped usage: normalised to input/output/total by the server
            child.update(output="hi", usage_details={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
            child.end()
            span.update(output={"y": 2})
        lf.create_event(name="agent-event", input={"note": "done"})
        agent.update(output={"booked": True})

    # A trace continued from another service: seeded trace id + a remote parent span
    # that is never exported (the SDK marks the span langfuse.internal.as_root=true).
    seeded_trace_id = lf.create_trace_id(seed=f"external-request-{secrets.token_hex(6)}")
    with lf.start_as_current_observation(
        name="continued-remote",
        input="from another service",
        trace_context={"trace_id": seeded_trace_id, "parent_span_id": REMOTE_PARENT},
    ) as remote:
        remote_id = remote.id

    standalone = lf.start_observation(as_type="generation", name="standalone-gen", model="gpt-4o-mini", input="ping")
    standalone.update(output="pong", usage_details={"input": 1, "output": 1})
    standalone.end()

    lf.flush()
    return Scenario(
        trace_id=trace_id,
        trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=len(EXPECTED_TYPES))),
        seeded_trace_id=seeded_trace_id,
        remote_id=remote_id,
        standalone_trace_id=standalone.trace_id,
        standalone_id=standalone.id,
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def test_sdk_reported_no_errors(scenario):
    assert scenario["sdk_errors"] == [], "the SDK logged export problems"


def test_every_observation_type(scenario):
    observations = scenario["trace"]["observations"]
    assert {o["name"]: o["type"] for o in observations} == EXPECTED_TYPES


def test_tree_structure(scenario):
    assert parent_map(scenario["trace"]["observations"]) == EXPECTED_PARENTS


def test_trace_from_root_agent(scenario):
    trace = scenario["trace"]
    assert trace["name"] == "travel-agent", "no trace_name given: the root span name becomes the trace name"
    assert trace["input"] == {"goal": "book a trip"}
    assert trace["output"] == {"booked": True}
    assert trace["userId"] is None and trace["sessionId"] is None
    assert trace["tags"] == []


def test_observation_io_and_fields(scenario):
    obs = scenario["trace"]["observations"]
    agent = by_name(obs, "travel-agent")
    assert agent["input"] == {"goal": "book a trip"}
    assert agent["output"] == {"booked": True}
    assert_subset(agent["metadata"], {"agent_version": "2"}, "agent metadata")

    chain = by_name(obs, "plan-chain")
    assert chain["input"] == "plan" and chain["output"] == "planned"

    retriever = by_name(obs, "vector-search")
    assert retriever["input"] == {"query": "hotels in Rome"}
    assert retriever["output"] == [{"id": "h1", "score": 0.91}, {"id": "h2", "score": 0.87}]

    tool = by_name(obs, "book-hotel")
    assert tool["input"] == {"hotel": "h1", "nights": 2}
    assert tool["output"] == {"confirmation": "ABC123"}

    guardrail = by_name(obs, "pii-check")
    assert guardrail["level"] == "DEBUG"
    assert guardrail["input"] == "Day 1: Colosseum"
    assert guardrail["output"] == {"passed": True}

    evaluator = by_name(obs, "plan-quality")
    assert evaluator["level"] == "WARNING"
    assert evaluator["statusMessage"] == "borderline"
    assert evaluator["output"] == {"score": 0.8}

    span = by_name(obs, "manual-span")
    assert span["version"] == "1.0"
    assert span["input"] == {"x": 1} and span["output"] == {"y": 2}

    event = by_name(obs, "agent-event")
    assert event["input"] == {"note": "done"}
    assert event["endTime"] is None or parse_time(event["endTime"]) == parse_time(event["startTime"])

    for o in obs:
        if o["name"] not in ("pii-check", "plan-quality"):
            assert o["level"] == "DEFAULT", o["name"]


def test_generation_like_fields(scenario):
    obs = scenario["trace"]["observations"]
    plan = by_name(obs, "plan-llm")
    assert plan["model"] == "claude-sonnet-4"
    assert_subset(plan["modelParameters"], {"temperature": 0, "max_tokens": 1024}, "plan-llm modelParameters")
    assert plan["input"] == [
        {"role": "system", "content": "You plan trips."},
        {"role": "user", "content": "Rome"},
    ]
    assert plan["output"] == {"role": "assistant", "content": "Day 1: Colosseum"}
    assert_subset(plan["usageDetails"], {"input": 20, "output": 8}, "plan-llm usageDetails")

    embedding = by_name(obs, "embed-query")
    assert embedding["type"] == "EMBEDDING"
    assert embedding["model"] == "text-embedding-3-small"
    assert embedding["input"] == "hotels in Rome"
    assert embedding["output"] == {"dims": 1536}
    assert_subset(embedding["usageDetails"], {"input": 4}, "embedding usageDetails")
    assert_subset(embedding["costDetails"], {"input": 0.00000008}, "embedding costDetails")

    manual = by_name(obs, "manual-generation")
    assert manual["model"] == "gpt-4o"
    assert manual["output"] == "hi"
    # {prompt_tokens, completion_tokens, total_tokens} is the OpenAI shape → input/output/total
    assert manual["usageDetails"] == {"input": 5, "output": 7, "total": 12}


def test_seeded_trace_with_remote_parent(scenario, api):
    trace = api.wait_trace(scenario["seeded_trace_id"], observations=1)
    assert trace["id"] == scenario["seeded_trace_id"]
    assert trace["name"] == "continued-remote"
    assert trace["input"] == "from another service"
    (obs,) = trace["observations"]
    assert obs["id"] == scenario["remote_id"]
    assert obs["type"] == "SPAN"
    # Langfuse keeps parentSpanId as parentObservationId even for an as_root span (the
    # remote parent lives in another service); as_root only makes the span write the
    # full trace (name, input/output), which the asserts above check.
    assert obs["parentObservationId"] == REMOTE_PARENT, "parentSpanId is kept for an as_root span"

    res = api.observations_v2(traceId=scenario["seeded_trace_id"], fields="core,basic")
    assert res.status == 200, res.text
    (v2,) = res.json["data"]
    assert v2["isRootObservation"] is True, "langfuse.internal.as_root / is_app_root mark the logical root"


def test_standalone_generation_is_its_own_trace(scenario, api):
    trace = api.wait_trace(scenario["standalone_trace_id"], observations=1)
    assert trace["name"] == "standalone-gen"
    assert trace["input"] == "ping" and trace["output"] == "pong"
    (gen,) = trace["observations"]
    assert gen["id"] == scenario["standalone_id"]
    assert gen["type"] == "GENERATION"
    assert gen["parentObservationId"] is None
    assert gen["model"] == "gpt-4o-mini"
    assert_subset(gen["usageDetails"], {"input": 1, "output": 1}, "standalone usageDetails")


def test_v2_filters_by_type(scenario, api):
    for obs_type, names in (
        ("AGENT", ["travel-agent"]),
        ("GENERATION", ["manual-generation", "plan-llm"]),
        ("GUARDRAIL", ["pii-check"]),
        ("EVENT", ["agent-event"]),
    ):
        res = api.observations_v2(traceId=scenario["trace_id"], type=obs_type, fields="core,basic")
        assert res.status == 200, res.text
        assert sorted(o["name"] for o in res.json["data"]) == names, obs_type
    res = api.observations_v2(traceId=scenario["trace_id"], fields="core,basic,io")
    assert res.status == 200, res.text
    by = {o["name"]: o for o in res.json["data"]}
    assert maybe_json(by["book-hotel"]["output"]) == {"confirmation": "ABC123"}

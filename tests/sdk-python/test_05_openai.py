"""The `langfuse.openai` drop-in (openai 3.57.0) against a local fake OpenAI server:
chat.completions non-streaming and streaming (SSE with include_usage), inside an
`@observe` span with propagated user/session/tags, plus a bare call (its own trace).

The wrapper sends OpenAI's raw usage object as usage_details
(`{prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details:{cached_tokens}}`);
the server normalises it: input = 12 − 2 cached = 10, input_cached_tokens = 2, output 6,
total 18 (ingestion.md §1.5)."""

from __future__ import annotations

import pytest

from checks import assert_subset, parent_map, parse_time
from fake_openai import REPLY, FakeOpenAI
from read_api import Scenario, attempt, by_name
from sdk_logs import SDK_LOGS

SYSTEM = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "Say hello to Ada"}
STREAM_USER = {"role": "user", "content": "Stream please"}
NORMALISED_USAGE = {"input": 10, "input_cached_tokens": 2, "output": 6, "total": 18}


@pytest.fixture(scope="module")
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def scenario(langfuse, _read_api, fake_openai):
    from langfuse import observe, propagate_attributes
    from langfuse.openai import OpenAI

    mark = SDK_LOGS.mark()
    client = OpenAI(base_url=fake_openai.base_url, api_key="sk-fake-not-a-real-key", max_retries=0)

    @observe(name="openai-demo")
    def demo() -> dict:
        with propagate_attributes(user_id="oa-user", session_id="oa-session", tags=["openai"]):
            completion = client.chat.completions.create(
                name="oa-nonstream",
                model="gpt-4o-mini",
                messages=[SYSTEM, USER],
                temperature=0.3,
                max_tokens=50,
                metadata={"feature": "greeting"},
            )
            stream = client.chat.completions.create(
                name="oa-stream",
                model="gpt-4o-mini",
                messages=[STREAM_USER],
                stream=True,
                stream_options={"include_usage": True},
            )
            streamed = "".join(
                (chunk.choices[0].delta.content or "") for chunk in stream if chunk.choices
            )
            return {
                "text": completion.choices[0].message.content,
                "streamed": streamed,
                "trace_id": langfuse.get_current_trace_id(),
            }

    result = demo()
    assert result["text"] == REPLY and result["streamed"] == REPLY

    bare = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "bare"}])
    assert bare.choices[0].message.content == REPLY

    langfuse.flush()
    trace_id = result["trace_id"]
    trace = attempt(lambda: _read_api.wait_trace(trace_id, observations=3))

    # The bare call is a trace of its own; find it through the observations list.
    def find_bare():
        res = _read_api.poll(
            lambda: _read_api.observations_v1(name="OpenAI-generation", type="GENERATION"),
            lambda r: r.status == 200 and len(r.json["data"]) >= 1,
        )
        assert res.status == 200 and res.json["data"], (
            f"GET /api/public/observations?name=OpenAI-generation found nothing: HTTP {res.status} {res.text[:2000]}"
        )
        return res.json["data"]

    return Scenario(
        trace_id=trace_id,
        trace=trace,
        bare=attempt(find_bare),
        openai_requests=fake_openai.requests,
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def test_sdk_reported_no_errors(scenario):
    assert scenario["sdk_errors"] == [], "the SDK logged export problems"


def test_fake_openai_was_called(scenario):
    bodies = [r["body"] for r in scenario["openai_requests"]]
    assert len(bodies) == 3
    assert bodies[0]["messages"] == [SYSTEM, USER]
    assert "name" not in bodies[0], "the wrapper strips its own kwargs before calling OpenAI"
    assert bodies[1]["stream"] is True


def test_tree(scenario):
    obs = scenario["trace"]["observations"]
    assert {o["name"]: o["type"] for o in obs} == {
        "openai-demo": "SPAN",
        "oa-nonstream": "GENERATION",
        "oa-stream": "GENERATION",
    }
    assert parent_map(obs) == {"openai-demo": None, "oa-nonstream": "openai-demo", "oa-stream": "openai-demo"}


def test_trace_attributes(scenario):
    trace = scenario["trace"]
    assert trace["name"] == "openai-demo"
    assert trace["userId"] == "oa-user"
    assert trace["sessionId"] == "oa-session"
    assert trace["tags"] == ["openai"]


def test_non_streaming_generation(scenario):
    gen = by_name(scenario["trace"]["observations"], "oa-nonstream")
    assert gen["model"] == "gpt-4o-mini-2024-07-18", "model = the model named in the response"
    assert gen["input"] == [SYSTEM, USER]
    assert gen["output"] == {"role": "assistant", "content": REPLY}
    assert_subset(
        gen["modelParameters"],
        {"temperature": 0.3, "max_tokens": 50, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0},
        "modelParameters",
    )
    assert_subset(gen["usageDetails"], NORMALISED_USAGE, "usageDetails (normalised OpenAI usage)")
    # v1 usage/promptTokens: sum of usage keys containing "input" / "output"
    assert gen["promptTokens"] == 12 and gen["completionTokens"] == 6 and gen["totalTokens"] == 18
    assert_subset(gen["metadata"], {"feature": "greeting"}, "metadata")


def test_streaming_generation(scenario):
    gen = by_name(scenario["trace"]["observations"], "oa-stream")
    assert gen["model"] == "gpt-4o-mini-2024-07-18"
    assert gen["input"] == [STREAM_USER]
    assert gen["output"] == REPLY, "streamed output is the concatenated text"
    assert_subset(gen["usageDetails"], NORMALISED_USAGE, "usageDetails (normalised OpenAI usage)")
    assert_subset(gen["metadata"], {"finish_reason": "stop"}, "metadata")
    # max_tokens unset → the wrapper sends the string "Infinity"
    assert_subset(gen["modelParameters"], {"temperature": 1, "max_tokens": "Infinity"}, "modelParameters")
    first_token = parse_time(gen["completionStartTime"])
    assert first_token is not None, "streaming sets completion_start_time"
    assert parse_time(gen["startTime"]) <= first_token <= parse_time(gen["endTime"])
    assert gen["timeToFirstToken"] is not None and gen["timeToFirstToken"] >= 0


def test_bare_call_is_its_own_trace(scenario, api):
    (gen,) = scenario["bare"]
    assert gen["traceId"] != scenario["trace_id"]
    assert gen["parentObservationId"] is None
    assert gen["model"] == "gpt-4o-2024-07-18"
    assert gen["input"] == [{"role": "user", "content": "bare"}]
    assert gen["output"] == {"role": "assistant", "content": REPLY}
    assert_subset(gen["usageDetails"], NORMALISED_USAGE, "usageDetails")
    trace = api.wait_trace(gen["traceId"], observations=1)
    assert trace["name"] == "OpenAI-generation"
    assert trace["userId"] is None

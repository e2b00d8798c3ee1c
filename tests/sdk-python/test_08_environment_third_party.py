"""Release and environment (python-i scenario): the client's `release` (a resource and
span attribute), a request-scoped `propagate_attributes(environment=...)`, and spans of a
third-party instrumentation created through the global tracer provider the Langfuse
client installed: a span with `gen_ai.*` attributes is exported (and becomes a
GENERATION), a plain `http.*` span is dropped client-side. Last, a Langfuse span inside
such a dropped framework span (e.g. an HTTP server span of an auto-instrumentation):
its parent is never exported, so the SDK marks it `langfuse.internal.is_app_root`."""

from __future__ import annotations

import pytest

from checks import assert_subset, parent_map
from read_api import Scenario, attempt, by_name
from sdk_config import SDK_RELEASE
from sdk_logs import SDK_LOGS


@pytest.fixture(scope="module")
def scenario(langfuse, _read_api):
    from opentelemetry import trace as otel_trace

    from langfuse import propagate_attributes

    mark = SDK_LOGS.mark()
    third_party = otel_trace.get_tracer("some-llm-library", "9.9.9")
    with propagate_attributes(environment="staging"):
        with langfuse.start_as_current_observation(name="env-root", metadata="plain string metadata") as root:
            trace_id = root.trace_id
            with langfuse.start_as_current_observation(as_type="generation", name="env-gen", model="gpt-4o-mini"):
                pass
            with third_party.start_as_current_span("third-party-genai") as span:
                span.set_attribute("gen_ai.request.model", "gpt-4o")
                span.set_attribute("gen_ai.usage.input_tokens", 7)
                span.set_attribute("gen_ai.usage.output_tokens", 3)
            with third_party.start_as_current_span("plain-http") as span:
                span.set_attribute("http.method", "GET")

    # The framework's own span is not exported; the Langfuse span below is the app root.
    with third_party.start_as_current_span("POST /chat") as http_span:
        http_span.set_attribute("http.method", "POST")
        dropped_parent = format(http_span.get_span_context().span_id, "016x")
        with langfuse.start_as_current_observation(name="app-handler", input="hi") as handler:
            handler.update(output="hello")
            app_trace_id, app_span_id = handler.trace_id, handler.id
    langfuse.flush()
    return Scenario(
        app_trace_id=app_trace_id,
        app_span_id=app_span_id,
        dropped_parent=dropped_parent,
        app_trace=attempt(lambda: _read_api.wait_trace(app_trace_id, observations=1)),
        trace_id=trace_id,
        trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=3)),
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def test_sdk_reported_no_errors(scenario):
    assert scenario["sdk_errors"] == []


def test_release_and_environment(scenario):
    trace = scenario["trace"]
    assert trace["environment"] == "staging", "propagate_attributes(environment=) → langfuse.environment"
    assert trace["release"] == SDK_RELEASE, "Langfuse(release=) → langfuse.release"
    for o in trace["observations"]:
        assert o["environment"] == "staging", o["name"]


def test_non_dict_metadata(scenario):
    root = by_name(scenario["trace"]["observations"], "env-root")
    # a non-dict metadata value is sent whole as langfuse.observation.metadata
    assert root["metadata"] == "plain string metadata" or (
        isinstance(root["metadata"], dict) and "plain string metadata" in root["metadata"].values()
    ), root["metadata"]


def test_third_party_genai_span_exported(scenario):
    obs = scenario["trace"]["observations"]
    names = sorted(o["name"] for o in obs)
    assert names == ["env-gen", "env-root", "third-party-genai"], "plain-http is dropped by the SDK"
    assert parent_map(obs)["third-party-genai"] == "env-root"
    gen = by_name(obs, "third-party-genai")
    assert gen["type"] == "GENERATION", "gen_ai.request.model → GENERATION"
    assert gen["model"] == "gpt-4o"
    assert_subset(gen["usageDetails"], {"input": 7, "output": 3}, "usageDetails from gen_ai.usage.*")
    assert (gen["metadata"].get("scope") or {}).get("name") == "some-llm-library", gen["metadata"]


def test_app_root_under_dropped_framework_span(scenario, api):
    (obs,) = scenario["app_trace"]["observations"]
    assert obs["id"] == scenario["app_span_id"]
    assert obs["parentObservationId"] == scenario["dropped_parent"], "the parent span id is kept as sent"
    assert obs["input"] == "hi" and obs["output"] == "hello"
    res = api.observations_v2(traceId=scenario["app_trace_id"], fields="core,basic")
    assert res.status == 200, res.text
    (v2,) = res.json["data"]
    assert v2["isRootObservation"] is True, "root = no parent OR langfuse.internal.is_app_root"


def test_app_root_names_the_trace(scenario):
    trace = scenario["app_trace"]
    # data-model.md: trace name = latest trace_name, else the name of a root span, where
    # root = no parent OR is_app_root.
    assert trace["name"] == "app-handler", trace

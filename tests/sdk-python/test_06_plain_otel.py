"""Plain OpenTelemetry Python (no Langfuse SDK): `OTLPSpanExporter` pointed at
{host}/api/public/otel/v1/traces with a Basic auth header, sending
(a) GenAI semantic-convention spans (gen_ai.*), gzip-compressed, and
(b) OpenInference spans (openinference.span.kind, llm.*), uncompressed.
Both LLM spans must come out as GENERATION with model, usage and messages.

Uses its own TracerProvider (never the global one, which the Langfuse client owns)."""

from __future__ import annotations

import base64
import json

import pytest

from checks import assert_subset, parent_map
from read_api import Scenario, attempt, by_name

GENAI_INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "You answer in one word."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Capital of Italy?"}]},
]
GENAI_OUTPUT = [
    {"role": "assistant", "parts": [{"type": "text", "content": "Rome"}], "finish_reason": "stop"}
]


def _exporter(server, gzip: bool):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    class RecordingExporter(OTLPSpanExporter):
        """The stock exporter; remembers every export result."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.results = []

        def export(self, spans):
            result = super().export(spans)
            self.results.append((len(spans), result))
            return result

    token = base64.b64encode(f"{server.public_key}:{server.secret_key}".encode()).decode()
    return RecordingExporter(
        endpoint=f"{server.base_url}/api/public/otel/v1/traces",
        headers={"Authorization": f"Basic {token}"},
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        timeout=10,
    )


def _provider(service_name: str, exporter):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _hex_ids(span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


@pytest.fixture(scope="module")
def genai(server, _read_api):
    from opentelemetry.trace import Status, StatusCode

    exporter = _exporter(server, gzip=True)
    provider = _provider("sdk-python-genai-app", exporter)
    tracer = provider.get_tracer("my-genai-app", "0.1.0")
    with tracer.start_as_current_span("agent-run", attributes={"session.id": "otel-session", "user.id": "otel-user"}) as root:
        trace_id, root_id = _hex_ids(root)
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.request.temperature": 0.5,
                    "gen_ai.request.max_tokens": 100,
                    "gen_ai.usage.input_tokens": 15,
                    "gen_ai.usage.output_tokens": 4,
                    "gen_ai.input.messages": json.dumps(GENAI_INPUT),
                    "gen_ai.output.messages": json.dumps(GENAI_OUTPUT),
                }
            )
        with tracer.start_as_current_span("chat failing") as failing:
            failing.set_attributes(
                {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3}
            )
            failing.set_status(Status(StatusCode.ERROR, "rate limited"))
    provider.force_flush()
    provider.shutdown()
    return Scenario(
        trace_id=trace_id,
        root_id=root_id,
        export_results=exporter.results,
        trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=3)),
    )


@pytest.fixture(scope="module")
def openinference(server, _read_api):
    exporter = _exporter(server, gzip=False)
    provider = _provider("sdk-python-openinference-app", exporter)
    tracer = provider.get_tracer("openinference.instrumentation.openai", "0.1.0")
    with tracer.start_as_current_span("rag-pipeline", attributes={"openinference.span.kind": "CHAIN"}) as root:
        trace_id, _ = _hex_ids(root)
        root.set_attribute("input.value", "Hello?")
        with tracer.start_as_current_span(
            "retrieve-docs", attributes={"openinference.span.kind": "RETRIEVER"}
        ):
            pass
        with tracer.start_as_current_span("ChatCompletion") as llm:
            llm.set_attributes(
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.invocation_parameters": json.dumps({"temperature": 0.1}),
                    "llm.token_count.prompt": 9,
                    "llm.token_count.completion": 3,
                    "llm.token_count.total": 12,
                    "llm.input_messages.0.message.role": "system",
                    "llm.input_messages.0.message.content": "Be brief.",
                    "llm.input_messages.1.message.role": "user",
                    "llm.input_messages.1.message.content": "Hello?",
                    "llm.output_messages.0.message.role": "assistant",
                    "llm.output_messages.0.message.content": "Hi!",
                }
            )
        root.set_attribute("output.value", "Hi!")
    provider.force_flush()
    provider.shutdown()
    return Scenario(
        trace_id=trace_id,
        export_results=exporter.results,
        trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=3)),
    )


def _unwrap_messages(value):
    """OpenInference flattening gives [{"message": {...}}]; accept it or plain messages."""
    assert isinstance(value, list), f"expected a list of messages, got {value!r}"
    return [m["message"] if isinstance(m, dict) and set(m) == {"message"} else m for m in value]


def _assert_exported(results):
    from opentelemetry.sdk.trace.export import SpanExportResult

    assert results, "the exporter never exported"
    assert all(r == SpanExportResult.SUCCESS for _, r in results), f"export results: {results}"


# -- GenAI semantic conventions ----------------------------------------------------------


def test_genai_export_accepted(genai):
    _assert_exported(genai["export_results"])


def test_genai_tree(genai):
    obs = genai["trace"]["observations"]
    assert {o["name"]: o["type"] for o in obs} == {
        "agent-run": "SPAN",
        "chat gpt-4o": "GENERATION",
        "chat failing": "GENERATION",
    }
    assert parent_map(obs) == {"agent-run": None, "chat gpt-4o": "agent-run", "chat failing": "agent-run"}


def test_genai_trace(genai):
    trace = genai["trace"]
    assert trace["name"] == "agent-run"
    assert trace["sessionId"] == "otel-session"
    assert trace["userId"] == "otel-user"


def test_genai_generation(genai):
    gen = by_name(genai["trace"]["observations"], "chat gpt-4o")
    assert gen["model"] == "gpt-4o-2024-08-06", "gen_ai.response.model wins over gen_ai.request.model"
    assert_subset(gen["usageDetails"], {"input": 15, "output": 4}, "usageDetails from gen_ai.usage.*")
    assert gen["promptTokens"] == 15 and gen["completionTokens"] == 4
    assert gen["input"] == GENAI_INPUT, "input from gen_ai.input.messages"
    assert gen["output"] == GENAI_OUTPUT, "output from gen_ai.output.messages"
    assert_subset(gen["modelParameters"], {"temperature": 0.5, "max_tokens": 100}, "modelParameters from gen_ai.request.*")
    assert gen["level"] == "DEFAULT"
    assert_subset(gen["metadata"].get("resourceAttributes") or {}, {"service.name": "sdk-python-genai-app"},
                  "metadata.resourceAttributes")
    assert (gen["metadata"].get("scope") or {}).get("name") == "my-genai-app", gen["metadata"]


def test_genai_error_status_maps_to_level(genai):
    failing = by_name(genai["trace"]["observations"], "chat failing")
    assert failing["level"] == "ERROR", "OTel status ERROR without langfuse.observation.level → ERROR"
    assert failing["statusMessage"] == "rate limited"
    assert failing["model"] == "gpt-4o"


# -- OpenInference -------------------------------------------------------------------------


def test_openinference_export_accepted(openinference):
    _assert_exported(openinference["export_results"])


def test_openinference_types(openinference):
    obs = openinference["trace"]["observations"]
    assert {o["name"]: o["type"] for o in obs} == {
        "rag-pipeline": "CHAIN",
        "retrieve-docs": "RETRIEVER",
        "ChatCompletion": "GENERATION",
    }
    assert parent_map(obs) == {"rag-pipeline": None, "retrieve-docs": "rag-pipeline", "ChatCompletion": "rag-pipeline"}
    root = by_name(obs, "rag-pipeline")
    assert root["input"] == "Hello?" and root["output"] == "Hi!", "input.value / output.value"


def test_openinference_generation(openinference):
    gen = by_name(openinference["trace"]["observations"], "ChatCompletion")
    assert gen["model"] == "gpt-4o-mini"
    assert_subset(gen["usageDetails"], {"input": 9, "output": 3, "total": 12}, "usageDetails from llm.token_count.*")
    assert_subset(gen["modelParameters"], {"temperature": 0.1}, "modelParameters from llm.invocation_parameters")
    assert _unwrap_messages(gen["input"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello?"},
    ], f"input rebuilt from llm.input_messages.N.*: {gen['input']!r}"
    assert _unwrap_messages(gen["output"]) == [{"role": "assistant", "content": "Hi!"}], (
        f"output rebuilt from llm.output_messages.N.*: {gen['output']!r}"
    )


def test_openinference_trace(openinference):
    trace = openinference["trace"]
    assert trace["name"] == "rag-pipeline"
    assert trace["input"] == "Hello?" and trace["output"] == "Hi!"

//! SDK wire captures: LangChain/LangGraph, OpenAI wrapper, environments and third-party
//! spans, Python SDK 3 and 4, JS SDK 5, experiments.

use serde_json::json;

use super::fixtures::{Mapped, iso};

#[test]
fn python_f_langchain_and_langgraph() {
    let mapped = Mapped::load("python-f-langchain-langgraph");
    let generation = mapped.by_id("815e7400f865ab65");
    assert_eq!(generation["name"], json!("FakeMessagesListChatModel"));
    assert_eq!(generation["type"], json!("GENERATION"));
    assert_eq!(
        (
            generation["promptName"].clone(),
            generation["promptVersion"].clone()
        ),
        (json!("lc-joke"), json!(1))
    );
    assert_eq!(
        generation["providedUsageDetails"],
        json!({"input": 11, "output": 14, "total": 25})
    );
    assert!(
        !generation.contains_key("modelParameters"),
        "`{{}}` parameters are left out"
    );
    assert!(
        !generation.contains_key("model"),
        "fake models have no name"
    );
    let metadata = &generation["metadata"];
    assert_eq!(metadata["ls_provider"], json!("fakemessageslistchatmodel"));
    assert_eq!(metadata["tags"], json!(["seq:step:2", "lc-tag"]));
    assert_eq!(metadata["lc_versions"], json!({"langchain-core": "1.8.3"}));
    assert_eq!(
        generation["input"][1],
        json!({"role": "user", "content": "Tell a joke about bears"})
    );
    assert_eq!(mapped.named("ChatPromptTemplate")["type"], json!("CHAIN"));
    let chain = mapped.trace("73e0311a05d5c01247e709d6584fff48");
    assert_eq!(chain.name.as_deref(), Some("joke-chain"));
    assert_eq!(chain.user_id.as_deref(), Some("lc-user-1"));
    assert_eq!(chain.session_id.as_deref(), Some("lc-session-1"));
    assert_eq!(chain.tags, vec!["lc-tag", "lf-tag"]);
    assert_eq!(chain.metadata["custom_key"], json!("custom_value"));
    assert_eq!(chain.metadata["is_langchain_root"], json!(true));
    assert_eq!(chain.input, Some(json!({"topic": "bears"})));
    assert_eq!(
        chain.output,
        Some(json!(
            "Why did the bear cross the road? Because it was a grizzly situation."
        ))
    );

    let tool = mapped.named("get_weather");
    assert_eq!(tool["type"], json!("TOOL"));
    assert_eq!(tool["parentObservationId"], json!("224d4742d8f1d701"));
    assert_eq!(tool["input"], json!({"city": "Rome"}));
    assert_eq!(tool["metadata"]["langgraph_step"], json!(2));
    assert_eq!(tool["metadata"]["tool_call_id"], json!("call_1"));
    assert_eq!(mapped.by_id("853dc939f212a7c2")["type"], json!("AGENT"));
    let second = mapped.by_id("3985759dc87bf79b");
    assert_eq!(
        second["providedUsageDetails"],
        json!({"input": 30, "output": 9, "total": 49, "input_cache_read": 10})
    );
    let graph = mapped.trace("604f41874812f796ff4fe162655a552e");
    assert_eq!(graph.name.as_deref(), Some("LangGraph"));
    assert_eq!(graph.session_id.as_deref(), Some("graph-session"));
    assert_eq!(graph.user_id, None);
    assert_eq!(graph.metadata["ls_integration"], json!("langgraph"));
}

#[test]
fn python_g_openai_wrapper() {
    let mapped = Mapped::load("python-g-openai");
    let plain = mapped.named("oa-nonstream");
    assert_eq!(plain["type"], json!("GENERATION"));
    assert_eq!(plain["model"], json!("gpt-4o-mini-2024-07-18"));
    assert_eq!(
        plain["providedUsageDetails"],
        json!({"input": 10, "input_audio_tokens": 0, "input_cached_tokens": 2, "output": 6,
            "output_audio_tokens": 0, "output_reasoning_tokens": 0, "total": 18})
    );
    assert_eq!(
        (plain["promptName"].clone(), plain["promptVersion"].clone()),
        (json!("oa-prompt"), json!(1))
    );
    assert_eq!(
        plain["modelParameters"],
        json!({"temperature": 0.3, "max_tokens": 50, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0})
    );
    assert_eq!(
        plain["output"],
        json!({"role": "assistant", "content": "Hello from the fake model."})
    );
    assert_eq!(plain["metadata"]["feature"], json!("greeting"));
    let stream = mapped.named("oa-stream");
    assert_eq!(
        stream["completionStartTime"],
        iso("2026-11-27T04:22:48.060159Z")
    );
    assert_eq!(stream["modelParameters"]["max_tokens"], json!("Infinity"));
    assert_eq!(stream["output"], json!("Hello from the fake model."));
    assert_eq!(stream["metadata"]["finish_reason"], json!("stop"));
    assert!(!stream.contains_key("promptName"));
    let demo = mapped.trace("a80be1d658260c8fb89ec742771f9a81");
    assert_eq!(demo.name.as_deref(), Some("openai-demo"));
    assert_eq!(
        (demo.user_id.as_deref(), demo.session_id.as_deref()),
        (Some("oa-user"), Some("oa-session"))
    );
    assert_eq!(demo.tags, vec!["openai"]);
    let bare = mapped.trace("2d12d3a0e0479f9f8804f89546d2829f");
    assert_eq!(bare.name.as_deref(), Some("OpenAI-generation"));
    assert_eq!(
        bare.input,
        Some(json!([{"role": "user", "content": "bare"}]))
    );
}

#[test]
fn python_i_environments_media_and_third_party_spans() {
    let mapped = Mapped::load("python-i-env-media-otel");
    let generation = mapped.named("media-gen");
    assert_eq!(generation["environment"], json!("prod-eu"));
    assert_eq!(
        generation["input"]["image"],
        json!("@@@langfuseMedia:type=image/png|id=Y-8xjZa10NDOum4EpOYisR|source=bytes@@@")
    );
    assert_eq!(
        mapped.named("data-uri-span")["environment"],
        json!("staging")
    );
    let root = mapped.named("env-root");
    assert_eq!(root["metadata"]["metadata"], json!("plain string metadata"));
    assert_eq!(
        root["metadata"]["resourceAttributes"]["langfuse.release"],
        json!("rel-42")
    );
    let third_party = mapped.named("third-party-genai");
    assert_eq!(third_party["type"], json!("GENERATION"));
    assert_eq!(third_party["model"], json!("gpt-4o"));
    assert_eq!(
        third_party["providedUsageDetails"],
        json!({"input": 7, "output": 3})
    );
    assert_eq!(
        third_party["environment"],
        json!("staging"),
        "from the resource"
    );
    assert_eq!(
        third_party["metadata"]["attributes"],
        json!({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "7", "gen_ai.usage.output_tokens": "3"})
    );
    assert_eq!(
        third_party["metadata"]["scope"],
        json!({"name": "my.app.tracer", "version": null, "attributes": {}})
    );
    let trace = mapped.trace("52a0a7dfb196e41a53b1ffff82947844");
    assert_eq!(
        trace.environment, "prod-eu",
        "the earliest span (the root) sets it"
    );
    assert_eq!(trace.release.as_deref(), Some("rel-42"));
    assert_eq!(trace.name.as_deref(), Some("env-root"));
}

#[test]
fn python_v3_typed_attributes_and_trace_io() {
    let mapped = Mapped::load("python-v3.15-otel-update-trace");
    let llm = mapped.named("v3py-llm");
    assert_eq!(
        (llm["promptName"].clone(), llm["promptVersion"].clone()),
        (json!("v3py-prompt"), json!(1))
    );
    assert_eq!(llm["providedCostDetails"], json!({"total": 0.0001}));
    assert_eq!(llm["modelParameters"], json!({"temperature": 0.1}));
    assert_eq!(llm["output"], json!("answer"));
    let failed = mapped.named("v3py-gen");
    assert_eq!(
        (failed["level"].clone(), failed["statusMessage"].clone()),
        (json!("ERROR"), json!("bad"))
    );
    assert_eq!(failed["model"], json!("claude-3-haiku"));
    assert_eq!(mapped.named("v3py-event")["type"], json!("EVENT"));
    let root = mapped.named("v3py-root");
    assert_eq!(root["input"], json!({"q": "hello"}));
    assert_eq!(root["version"], json!("9.9"));
    let trace = mapped.trace("6a115d891281d52bd1e0b7d4d4c71441");
    assert_eq!(trace.name.as_deref(), Some("v3py-trace"));
    assert_eq!(trace.user_id.as_deref(), Some("v3py-user"));
    assert_eq!(trace.session_id.as_deref(), Some("v3py-session"));
    assert_eq!(trace.version.as_deref(), Some("9.9"));
    assert_eq!(trace.input, Some(json!({"trace_in": 1})));
    assert_eq!(trace.output, Some(json!({"trace_out": 2})));
    assert_eq!(trace.tags, vec!["a", "b"]);
    assert!(trace.public);
    assert_eq!(trace.metadata["tenant"], json!("acme"));
    assert_eq!(trace.metadata["n"], json!(1));
}

#[test]
fn python_v4_typed_metadata() {
    let mapped = Mapped::load("python-v4.18-otel");
    let llm = mapped.named("v4py-llm");
    assert_eq!(llm["metadata"]["s"], json!("x"));
    assert_eq!(llm["metadata"]["n"], json!(1));
    assert_eq!(
        llm["providedUsageDetails"],
        json!({"input": 5, "output": 2})
    );
    assert_eq!(llm["input"], json!({"args": ["hello"], "kwargs": {}}));
    let trace = mapped.trace("c1c84eb8a4459d7b71656fcc3e2cca86");
    assert_eq!(trace.name.as_deref(), Some("v4py-trace"));
    assert_eq!(trace.user_id.as_deref(), Some("v4py-user"));
    assert_eq!(trace.tags, vec!["t"]);
    assert_eq!(trace.metadata["tenant"], json!("acme"));
    assert_eq!(trace.metadata["k"], json!("v"));
}

#[test]
fn js_v5_tracing_client() {
    let mapped = Mapped::load("js-v5-tracing-client");
    let llm = mapped.named("js-llm");
    assert_eq!(llm["type"], json!("GENERATION"));
    assert_eq!(llm["model"], json!("gpt-4o-mini"));
    assert_eq!(
        llm["modelParameters"],
        json!({"temperature": 0.2, "maxTokens": 100})
    );
    assert_eq!(
        (llm["promptName"].clone(), llm["promptVersion"].clone()),
        (json!("js-text"), json!(1))
    );
    assert_eq!(llm["metadata"]["provider"], json!("openai"));
    assert_eq!(
        llm["providedUsageDetails"],
        json!({"input": 10, "output": 2, "total": 12})
    );
    assert_eq!(
        llm["providedCostDetails"],
        json!({"input": 0.00001, "output": 0.00002, "total": 0.00003})
    );
    assert_eq!(llm["completionStartTime"], iso("2026-01-02T03:04:05.678Z"));
    assert_eq!(llm["version"], json!("js-1.0.0"));
    assert_eq!(
        llm["metadata"]["resourceAttributes"]["process.pid"],
        json!(3114)
    );
    let error = mapped.named("js-error-span");
    assert_eq!(
        (error["level"].clone(), error["statusMessage"].clone()),
        (json!("ERROR"), json!("something failed"))
    );
    let event = mapped.named("js-event");
    assert_eq!(
        (event["type"].clone(), event["level"].clone()),
        (json!("EVENT"), json!("DEBUG"))
    );
    for (name, expected) in [
        ("lookup-weather", "TOOL"),
        ("js-active-gen", "GENERATION"),
        ("js-agent", "AGENT"),
        ("js-chain", "CHAIN"),
        ("js-retriever", "RETRIEVER"),
        ("js-embedding", "EMBEDDING"),
        ("js-evaluator", "EVALUATOR"),
        ("js-guardrail", "GUARDRAIL"),
        ("js-request", "SPAN"),
    ] {
        assert_eq!(mapped.named(name)["type"], json!(expected), "{name}");
    }
    assert_eq!(mapped.named("lookup-weather")["input"], json!("Rome"));
    let root = mapped.named("js-request");
    assert_eq!(root["input"], json!({"question": "weather?"}));
    assert_eq!(root["metadata"]["step"], json!(1));
    assert_eq!(root["metadata"]["nested"], json!({"a": 1}));
    let trace = mapped.trace("2b354ea6d89ecd18d45f8a4f04732e11");
    assert_eq!(trace.name.as_deref(), Some("js-trace"));
    assert_eq!(trace.user_id.as_deref(), Some("js-user"));
    assert_eq!(trace.session_id.as_deref(), Some("js-session"));
    assert_eq!(trace.tags, vec!["js-tag-a", "js-tag-b"]);
    assert!(trace.public);
    assert_eq!(trace.input, Some(json!({"q": "trace-level input"})));
    assert_eq!(trace.output, Some(json!({"a": "trace-level output"})));
    assert_eq!(trace.metadata["tenant"], json!("acme"));
    assert_eq!(trace.metadata["region"], json!("eu"));
    assert_eq!(trace.version.as_deref(), Some("js-1.0.0"));
    // A child of a remote parent that was never exported, marked as the app's root: it
    // keeps its parent id and names the trace.
    let remote = mapped.named("js-remote-child");
    assert_eq!(remote["parentObservationId"], json!("0123456789abcdef"));
    assert_eq!(remote["isAppRoot"], json!(true));
    let orphan = mapped.trace("800c98db930f81bf53ca324341e072fe");
    assert_eq!(orphan.name.as_deref(), Some("js-remote-child"));
    assert_eq!(orphan.timestamp, 1_795_753_401_360_000);
}

#[test]
fn experiments_stay_in_metadata() {
    let python = Mapped::load("python-e-datasets-experiments");
    let task = python.named("experiment-item-task");
    assert_eq!(task["environment"], json!("sdk-experiment"));
    let attributes = &task["metadata"]["attributes"];
    assert_eq!(
        attributes["langfuse.experiment.name"],
        json!("capitals-eval-run-1")
    );
    assert_eq!(
        attributes["langfuse.experiment.item.root_observation_id"],
        json!(task["id"])
    );
    assert_eq!(
        attributes["langfuse.experiment.metadata"],
        json!("{\"model\": \"lookup-table\"}")
    );
    assert_eq!(task["metadata"]["experiment_name"], json!("capitals-eval"));
    assert_eq!(python.named("exact_match")["type"], json!("EVALUATOR"));
    let js = Mapped::load("js-v5-datasets-experiment");
    let run = js.named("experiment-item-run");
    assert_eq!(
        run["metadata"]["attributes"]["langfuse.experiment.id"],
        json!("run-07baa3bf9804")
    );
    assert_eq!(
        run["metadata"]["dataset_item_id"],
        json!("23b660b2-4090-4f7d-8f08-65da0e365490")
    );
    assert_eq!(js.trace_ids().len(), 2);
}

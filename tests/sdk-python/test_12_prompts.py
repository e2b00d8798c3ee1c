"""Prompt management with the SDK: `create_prompt` (text and chat, labels, tags, config,
commit message → `POST /api/public/v2/prompts`), `get_prompt` by default label, by label
and by version with `compile()` (→ `GET /api/public/v2/prompts/{name}`), the fallback
path on a 404, `update_prompt` (→ `PATCH .../versions/{v}`), folder names, and a
generation linked to a prompt that then shows up in that version's usage statistics
(`GET /api/ui/v1/prompts/{name}/usage`, glassbox's own route)."""

from __future__ import annotations

import secrets
import urllib.parse

import pytest

from langfuse.model import ChatPromptClient, TextPromptClient
from read_api import ReadApi
from sdk_logs import SDK_LOGS

SUFFIX = secrets.token_hex(4)


def unique(name: str) -> str:
    return f"{name}-{SUFFIX}"


def version_id(api: ReadApi, name: str, version: int) -> str:
    res = api.get(f"/api/public/v2/prompts/{urllib.parse.quote(name, safe='')}", version=version)
    assert res.status == 200, res.text
    return res.json["id"]


def usage(api: ReadApi, name: str) -> dict:
    res = api.get(f"/api/ui/v1/prompts/{urllib.parse.quote(name, safe='')}/usage")
    assert res.status == 200, res.text
    return {v["version"]: v for v in res.json["data"]}


def test_create_text_prompt_with_labels_tags_config_and_commit_message(langfuse):
    name = unique("py-text")
    created = langfuse.create_prompt(
        name=name,
        prompt="Answer the question: {{question}} in {{language}}.",
        labels=["production"],
        tags=["qa"],
        config={"model": "gpt-4o-mini", "temperature": 0.1},
        commit_message="first version",
    )
    assert isinstance(created, TextPromptClient)
    assert created.version == 1
    assert created.labels == ["production", "latest"]
    assert created.tags == ["qa"]
    assert created.config == {"model": "gpt-4o-mini", "temperature": 0.1}
    assert created.commit_message == "first version"
    second = langfuse.create_prompt(name=name, prompt="v2 {{question}}", labels=["staging"])
    assert second.version == 2
    assert second.labels == ["staging", "latest"]
    assert second.tags == ["qa"], "omitted tags keep the prompt's tags"


def test_create_chat_prompt_with_placeholders(langfuse):
    name = unique("py-chat")
    created = langfuse.create_prompt(
        name=name,
        type="chat",
        prompt=[
            {"role": "system", "content": "You are a {{persona}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
        labels=["production", "v1"],
        config={"model": "gpt-4o-mini", "response_format": {"type": "json_object"}},
        commit_message="chat v1",
    )
    assert isinstance(created, ChatPromptClient)
    assert created.labels == ["production", "v1", "latest"]
    fetched = langfuse.get_prompt(name, type="chat", cache_ttl_seconds=0)
    assert isinstance(fetched, ChatPromptClient)
    assert fetched.version == 1
    assert fetched.config["response_format"] == {"type": "json_object"}
    compiled = fetched.compile(
        persona="pirate",
        question="Where is the gold?",
        history=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Arr"}],
    )
    assert compiled == [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Arr"},
        {"role": "user", "content": "Where is the gold?"},
    ]


def test_get_prompt_by_default_label_and_version_and_compile(langfuse):
    name = unique("py-get")
    langfuse.create_prompt(name=name, prompt="Prod: {{question}} ({{language}})", labels=["production"])
    langfuse.create_prompt(name=name, prompt="Staging: {{question}}", labels=["staging"])
    langfuse.create_prompt(name=name, prompt="Newest {{question}}")

    default = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert (default.version, default.is_fallback) == (1, False)
    assert default.compile(question="Why?", language="en") == "Prod: Why? (en)"
    assert default.compile(question="Why?") == "Prod: Why? ({{language}})", "unknown variables stay"
    assert default.variables == ["question", "language"]

    staging = langfuse.get_prompt(name, label="staging", cache_ttl_seconds=0)
    assert staging.version == 2
    assert staging.compile(question="x") == "Staging: x"
    latest = langfuse.get_prompt(name, label="latest", cache_ttl_seconds=0)
    assert (latest.version, latest.labels) == (3, ["latest"])
    by_version = langfuse.get_prompt(name, version=2, cache_ttl_seconds=0)
    assert (by_version.version, by_version.labels) == (2, ["staging"])


def test_folder_names_round_trip(langfuse):
    name = f"folder-{SUFFIX}/sub/prompt"
    langfuse.create_prompt(name=name, prompt="In a folder {{x}}", labels=["production"])
    fetched = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert fetched.name == name
    assert fetched.compile(x=1) == "In a folder 1"


def test_missing_prompt_uses_the_fallback(langfuse):
    mark = SDK_LOGS.mark()
    fallback = langfuse.get_prompt(
        unique("py-missing"),
        fallback="Fallback for {{question}}",
        max_retries=0,
        cache_ttl_seconds=0,
    )
    assert fallback.is_fallback is True
    assert fallback.compile(question="q") == "Fallback for q"
    assert any("fallback" in line.lower() for line in SDK_LOGS.since(mark)), SDK_LOGS.since(mark)
    from langfuse.api import NotFoundError

    with pytest.raises(NotFoundError):
        langfuse.get_prompt(unique("py-missing"), max_retries=0, cache_ttl_seconds=0)
    with pytest.raises(NotFoundError):
        langfuse.get_prompt(unique("py-get-missing-version"), version=99, max_retries=0, cache_ttl_seconds=0)


def test_update_prompt_moves_labels(langfuse):
    name = unique("py-move")
    langfuse.create_prompt(name=name, prompt="one", labels=["production"])
    langfuse.create_prompt(name=name, prompt="two")
    assert langfuse.get_prompt(name, cache_ttl_seconds=0).version == 1
    updated = langfuse.update_prompt(name=name, version=2, new_labels=["production"])
    assert updated.version == 2
    assert updated.labels == ["latest", "production"]
    assert langfuse.get_prompt(name, cache_ttl_seconds=0).version == 2
    assert langfuse.get_prompt(name, version=1, cache_ttl_seconds=0).labels == []


def test_generation_linked_to_a_prompt_shows_in_its_usage(langfuse, api):
    name = unique("py-used")
    langfuse.create_prompt(name=name, prompt="Summarise {{text}}", labels=["production"])
    langfuse.create_prompt(name=name, prompt="Summarise briefly {{text}}")
    prompt = langfuse.get_prompt(name, cache_ttl_seconds=0)
    assert prompt.version == 1
    mark = SDK_LOGS.mark()
    with langfuse.start_as_current_observation(name="prompt-usage-root") as root:
        trace_id = root.trace_id
        with langfuse.start_as_current_observation(
            as_type="generation",
            name="linked-gen",
            model="gpt-4o-mini",
            prompt=prompt,
            input=prompt.compile(text="a long story"),
            output="a story",
            usage_details={"input": 12, "output": 4},
            cost_details={"total": 0.002},
        ) as gen:
            gen_id = gen.id
            gen.score(name="faithfulness", value=0.75)
        root.score_trace(name="user-rating", value=1.0)
    langfuse.flush()
    assert SDK_LOGS.errors_since(mark) == []

    trace = api.wait_trace(trace_id, observations=2, scores=2)
    generation = next(o for o in trace["observations"] if o["id"] == gen_id)
    assert generation["promptName"] == name
    assert generation["promptVersion"] == 1
    assert generation["promptId"] == version_id(api, name, 1)

    stats = api.poll(
        lambda: api.get(f"/api/ui/v1/prompts/{urllib.parse.quote(name, safe='')}/usage"),
        lambda res: res.status == 200 and res.json["data"][-1]["generationCount"] == 1,
    )
    assert stats.status == 200, stats.text
    versions = usage(api, name)
    assert versions[2]["generationCount"] == 0
    used = versions[1]
    assert used["generationCount"] == 1
    assert used["labels"] == ["production"]
    assert used["firstUsedAt"] == used["lastUsedAt"] is not None
    assert used["latencySeconds"]["count"] == 1
    assert used["inputTokens"]["sum"] == 12
    assert used["outputTokens"]["sum"] == 4
    assert used["totalTokens"]["sum"] == 16
    assert abs(used["costUsd"]["sum"] - 0.002) < 1e-12
    assert used["generationScores"] == [
        {"name": "faithfulness", "dataType": "NUMERIC", "count": 1, "average": 0.75}
    ]
    assert used["traceScores"] == [{"name": "user-rating", "dataType": "NUMERIC", "count": 1, "average": 1.0}]

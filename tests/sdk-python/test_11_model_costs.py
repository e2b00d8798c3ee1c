"""Cost inference from the price table and its recompute after a price change, with the
real Python SDK (langfuse 5.0.4): a `gpt-4o` generation that reports usage but no cost
gets the built-in price; a project model created with `api.models.create` and changed
with `api.models.upsert` re-prices it in the background."""

from __future__ import annotations

import uuid

import pytest

GPT_4O_BUILTIN_ID = "b9854a5c92dc496b997d99d20"
USAGE = {"input": 1000, "output": 200}


def wait_recompute(api, model_id: str) -> dict:
    res = api.poll(
        lambda: api.get(f"/api/public/models/{model_id}/recompute"),
        lambda r: r.status == 200 and r.json["status"] in ("done", "failed"),
    )
    assert res.status == 200 and res.json["status"] == "done", res.text
    return res.json


def cost_of(api, observation_id: str, ready=lambda o: True) -> dict:
    res = api.poll(
        lambda: api.observation_v1(observation_id),
        lambda r: r.status == 200 and ready(r.json),
    )
    assert res.status == 200, res.text
    return res.json


@pytest.fixture(scope="module")
def generation(langfuse, _read_api):
    name = f"priced-{uuid.uuid4().hex[:8]}"
    with langfuse.start_as_current_observation(
        name=name, as_type="generation", model="gpt-4o", usage_details=USAGE,
        input=[{"role": "user", "content": "hi"}], output="hello",
    ) as gen:
        observation_id = gen.id
        trace_id = gen.trace_id
    langfuse.flush()
    _read_api.wait_trace(trace_id, observations=1)
    return observation_id


def test_usage_without_cost_is_priced_from_the_table(api, generation):
    observation = cost_of(api, generation)
    assert observation["model"] == "gpt-4o"
    assert observation["modelId"] == GPT_4O_BUILTIN_ID
    assert observation["usageDetails"] == {"input": 1000, "output": 200, "total": 1200}
    expected = {"input": 1000 * 2.5e-6, "output": 200 * 1e-5}
    for key, value in expected.items():
        assert observation["costDetails"][key] == pytest.approx(value, abs=1e-9)
    assert observation["calculatedTotalCost"] == pytest.approx(0.0045, abs=1e-9)


def test_a_price_change_recomputes_the_cost(langfuse, api, generation):
    models = langfuse.api.models
    created = models.create(
        model_name="gpt-4o", match_pattern="(?i)^(openai/)?(gpt-4o)$", unit="TOKENS",
        input_price=5e-6, output_price=2e-5,
    )
    try:
        assert created.is_langfuse_managed is False
        wait_recompute(api, created.id)
        observation = cost_of(api, generation)
        assert observation["modelId"] == created.id
        assert observation["calculatedTotalCost"] == pytest.approx(1000 * 5e-6 + 200 * 2e-5, abs=1e-9)

        changed = models.upsert(
            created.id, model_name="gpt-4o", match_pattern="(?i)^(openai/)?(gpt-4o)$",
            unit="TOKENS", input_price=1e-6, output_price=1e-6,
        )
        assert changed.input_price == pytest.approx(1e-6)
        wait_recompute(api, created.id)
        observation = cost_of(api, generation)
        assert observation["calculatedTotalCost"] == pytest.approx(1200 * 1e-6, abs=1e-9)
        fetched = models.get(created.id)
        assert fetched.output_price == pytest.approx(1e-6)
    finally:
        models.delete(created.id)
        wait_recompute(api, created.id)
    observation = cost_of(api, generation)
    assert observation["modelId"] == GPT_4O_BUILTIN_ID
    assert observation["calculatedTotalCost"] == pytest.approx(0.0045, abs=1e-9)


def test_models_list_includes_the_builtins(langfuse):
    page = langfuse.api.models.list(limit=100)
    assert page.meta.total_items >= 167
    names = {model.model_name for model in page.data}
    assert "gpt-4o" in names or page.meta.total_pages > 1

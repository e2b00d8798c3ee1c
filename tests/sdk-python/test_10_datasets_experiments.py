"""Datasets and experiments with the real SDK: `create_dataset` (a folder name with `/`),
`create_dataset_item`, `get_dataset` (paged item fetch), `dataset.run_experiment` with
item-level and run-level evaluators, and `run_experiment` on local data.

Python SDK 5 makes no dataset-run REST calls: glassbox derives the runs and run items
from the `langfuse.experiment.*` span attributes. Everything is asserted through the read
API: datasets, items, runs, run items, traces, evaluator scores, experiments and the
run comparison of the UI API.
"""

from __future__ import annotations

import secrets
import urllib.parse

import pytest

from read_api import Scenario, attempt
from sdk_logs import SDK_LOGS

CAPITALS = {"France": "Paris", "Germany": "Berlin", "Italy": "Rome"}


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def exact_match(*, input, output, expected_output=None, **kwargs):
    hit = output == expected_output
    return {"name": "exact_match", "value": 1.0 if hit else 0.0, "comment": "match" if hit else "miss"}


def verdict(*, output, expected_output=None, **kwargs):
    return {"name": "verdict", "value": "correct" if output == expected_output else "wrong",
            "data_type": "CATEGORICAL"}


def accuracy(*, item_results, **kwargs):
    values = [e.value for r in item_results for e in r.evaluations if e.name == "exact_match"]
    return {"name": "accuracy", "value": sum(values) / len(values), "comment": f"{len(values)} items"}


def baseline_task(*, item, **kwargs):
    # Wrong on purpose for Italy.
    return {"France": "Paris", "Germany": "Berlin", "Italy": "Milan"}[item.input["country"]]


def perfect_task(*, item, **kwargs):
    return CAPITALS[item.input["country"]]


def _wait(api, fetch, ready, what):
    res = api.poll(fetch, ready)
    assert ready(res), f"{what} did not become ready; last answer HTTP {res.status}: {res.text[:3000]}"
    return res.json


@pytest.fixture(scope="module")
def scenario(langfuse, _read_api, server):
    lf, api = langfuse, _read_api
    mark = SDK_LOGS.mark()
    token = secrets.token_hex(4)
    name = f"evals-{token}/capitals"
    lf.create_dataset(name=name, description="Capital cities", metadata={"owner": "qa-team"},
                      input_schema={"type": "object", "properties": {"country": {"type": "string"}}})
    item_ids = {}
    for country in CAPITALS:
        kwargs = {"id": f"item-de-{token}"} if country == "Germany" else {}
        created = lf.create_dataset_item(dataset_name=name, input={"country": country},
                                         expected_output=CAPITALS[country],
                                         metadata={"difficulty": "easy"}, **kwargs)
        item_ids[country] = created.id
    # A partial update through the same call (the SDK sends every field) creates a version.
    lf.create_dataset_item(dataset_name=name, id=item_ids["France"], input={"country": "France"},
                           expected_output="Paris", metadata={"difficulty": "trivial"})
    dataset = lf.get_dataset(name, fetch_items_page_size=2)
    baseline = dataset.run_experiment(name="capitals-eval", run_name=f"baseline-{token}",
                                      description="Baseline", task=baseline_task,
                                      evaluators=[exact_match, verdict], run_evaluators=[accuracy],
                                      metadata={"model": "lookup-table"})
    candidate = dataset.run_experiment(name="capitals-eval", run_name=f"candidate-{token}",
                                       task=perfect_task, evaluators=[exact_match],
                                       run_evaluators=[accuracy])
    local = lf.run_experiment(name=f"local-{token}",
                              data=[{"input": {"country": "Spain"}, "expected_output": "Madrid",
                                     "metadata": {"k": "v"}},
                                    {"input": {"country": "Japan"}, "expected_output": "Tokyo"}],
                              task=lambda *, item, **kw: {"Spain": "Madrid", "Japan": "Kyoto"}[item["input"]["country"]],
                              evaluators=[exact_match])
    lf.flush()

    def run_items(run_name: str, count: int):
        return _wait(api, lambda: api.get(f"/api/public/datasets/{_q(name)}/runs/{_q(run_name)}"),
                     lambda r: r.status == 200 and len(r.json["datasetRunItems"]) == count
                     and all(i["observationId"] for i in r.json["datasetRunItems"]),
                     f"run {run_name}")

    return Scenario(
        token=token, name=name, item_ids=item_ids, dataset=dataset, baseline=baseline,
        candidate=candidate, local=local,
        baseline_run=attempt(lambda: run_items(f"baseline-{token}", 3)),
        candidate_run=attempt(lambda: run_items(f"candidate-{token}", 3)),
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def test_no_sdk_errors(scenario):
    assert scenario["sdk_errors"] == []


def test_dataset_and_items(scenario, api, server):
    name = scenario["name"]
    dataset = api.get(f"/api/public/v2/datasets/{_q(name)}")
    assert dataset.status == 200, dataset.text
    assert dataset.json["name"] == name
    assert dataset.json["description"] == "Capital cities"
    assert dataset.json["metadata"] == {"owner": "qa-team"}
    assert dataset.json["inputSchema"]["properties"]["country"] == {"type": "string"}
    assert dataset.json["projectId"] == server.project_id
    # get_dataset paged through all three items (page size 2) and saw the new version.
    fetched = scenario["dataset"]
    assert fetched.id == dataset.json["id"]
    assert sorted(i.id for i in fetched.items) == sorted(scenario["item_ids"].values())
    france = next(i for i in fetched.items if i.id == scenario["item_ids"]["France"])
    assert france.metadata == {"difficulty": "trivial"}
    assert france.expected_output == "Paris"
    assert scenario["item_ids"]["Germany"] == f"item-de-{scenario['token']}"
    # The first version is still readable at its instant.
    listed = api.get("/api/public/dataset-items", datasetName=name, limit=100)
    assert listed.json["meta"]["totalItems"] == 3
    first_version = min(i["createdAt"] for i in listed.json["data"])
    pinned = api.get("/api/public/dataset-items", datasetName=name, version=first_version)
    assert [i["metadata"] for i in pinned.json["data"]] == [{"difficulty": "easy"}]


def test_runs_and_run_items_from_span_attributes(scenario, api):
    baseline, run = scenario["baseline"], scenario["baseline_run"]
    assert run["id"] == baseline.experiment_id
    assert run["name"] == f"baseline-{scenario['token']}"
    assert run["description"] == "Baseline"
    assert run["metadata"] == {"model": "lookup-table"}
    by_item = {i["datasetItemId"]: i for i in run["datasetRunItems"]}
    assert set(by_item) == set(scenario["item_ids"].values())
    for result in baseline.item_results:
        run_item = by_item[result.item.id]
        assert run_item["traceId"] == result.trace_id
        assert run_item["datasetRunId"] == baseline.experiment_id
    runs = api.get(f"/api/public/datasets/{_q(scenario['name'])}/runs")
    assert sorted(r["name"] for r in runs.json["data"]) == sorted(
        [f"baseline-{scenario['token']}", f"candidate-{scenario['token']}"])
    listed = api.get("/api/public/dataset-run-items", datasetId=scenario["dataset"].id,
                     runName=f"baseline-{scenario['token']}")
    assert listed.json["meta"]["totalItems"] == 3


def test_traces_and_evaluator_scores(scenario, api):
    baseline = scenario["baseline"]
    for result in baseline.item_results:
        country = result.item.input["country"]
        trace = api.wait_trace(result.trace_id, observations=5, scores=2)
        names = sorted(o["name"] for o in trace["observations"])
        assert names == sorted(["experiment-item-run", "experiment-item-task",
                                "experiment-item-evaluation", "exact_match", "verdict"]), names
        task = next(o for o in trace["observations"] if o["name"] == "experiment-item-task")
        assert task["input"] == {"country": country}
        assert task["output"] == result.output
        assert task["environment"] == "sdk-experiment"
        scores = {s["name"]: s for s in trace["scores"]}
        hit = result.output == CAPITALS[country]
        assert scores["exact_match"]["value"] == (1.0 if hit else 0.0)
        assert scores["exact_match"]["observationId"] == task["id"]
        assert scores["verdict"]["stringValue"] == ("correct" if hit else "wrong")
    run_scores = api.poll(lambda: api.scores_v2(datasetRunId=baseline.experiment_id),
                          lambda r: r.json["meta"]["totalItems"] == 1)
    score = run_scores.json["data"][0]
    assert score["name"] == "accuracy"
    assert score["value"] == pytest.approx(2 / 3)


def test_experiments_read_api(scenario, api):
    baseline = scenario["baseline"]
    experiments = api.get("/api/public/experiments", fromStartTime="2020-01-01T00:00:00Z",
                          id=baseline.experiment_id, fields="core,metadata,scores")
    assert experiments.status == 200, experiments.text
    [experiment] = experiments.json["data"]
    assert experiment["itemCount"] == 3
    assert experiment["datasetId"] == scenario["dataset"].id
    assert experiment["metadata"] == {"model": "lookup-table"}
    assert [s["name"] for s in experiment["scores"]] == ["accuracy"]
    items = api.get("/api/public/experiment-items", fromStartTime="2020-01-01T00:00:00Z",
                    experimentId=baseline.experiment_id, fields="core,dataset,io,itemMetadata")
    assert len(items.json["data"]) == 3
    outputs = sorted(i["output"] for i in items.json["data"])
    assert outputs == ["Berlin", "Milan", "Paris"]
    assert sorted(i["expectedOutput"] for i in items.json["data"]) == ["Berlin", "Paris", "Rome"]
    assert {i["experimentName"] for i in items.json["data"]} == {f"baseline-{scenario['token']}"}


def test_run_experiment_on_local_data(scenario, api):
    local = scenario["local"]
    found = api.poll(
        lambda: api.get("/api/public/experiments", fromStartTime="2020-01-01T00:00:00Z",
                        id=local.experiment_id),
        lambda r: r.json["data"] and r.json["data"][0]["itemCount"] == 2)
    [experiment] = found.json["data"]
    assert experiment["datasetId"] is None
    assert experiment["name"] == local.run_name
    items = api.get("/api/public/experiment-items", fromStartTime="2020-01-01T00:00:00Z",
                    experimentId=local.experiment_id, fields="core,dataset,io")
    assert sorted(i["output"] for i in items.json["data"]) == ["Kyoto", "Madrid"]
    assert all(i["experimentDatasetId"] is None for i in items.json["data"])
    for result in local.item_results:
        trace = api.wait_trace(result.trace_id, scores=1)
        assert trace["scores"][0]["value"] == (1.0 if result.output == "Madrid" else 0.0)


def test_run_comparison(scenario, api):
    baseline, candidate = scenario["baseline"], scenario["candidate"]
    assert scenario["candidate_run"]["id"] == candidate.experiment_id

    def ready(r):
        runs = r.json["runs"]
        return all(len(run["aggregates"]["runScores"]) == 1 for run in runs) and all(
            run["aggregates"]["scores"] for run in runs)

    compare = api.poll(
        lambda: api.get(f"/api/ui/v1/datasets/{scenario['dataset'].id}/compare",
                        runIds=f"{baseline.experiment_id},{candidate.experiment_id}"), ready)
    assert compare.status == 200, compare.text
    runs = {r["id"]: r["aggregates"] for r in compare.json["runs"]}
    for run_id, expected in [(baseline.experiment_id, 2 / 3), (candidate.experiment_id, 1.0)]:
        aggregate = runs[run_id]
        assert aggregate["itemCount"] == 3
        exact = next(s for s in aggregate["scores"] if s["name"] == "exact_match")
        assert exact["count"] == 3
        assert exact["average"] == pytest.approx(expected)
        assert aggregate["runScores"][0]["value"] == pytest.approx(expected)
        assert aggregate["avgLatency"] is not None and aggregate["avgLatency"] >= 0
    verdicts = next(s for s in runs[baseline.experiment_id]["scores"] if s["name"] == "verdict")
    assert verdicts["distribution"] == {"correct": 2, "wrong": 1}
    italy = next(i for i in compare.json["items"] if i["input"] == {"country": "Italy"})
    assert italy["runs"][baseline.experiment_id]["output"] == "Milan"
    assert italy["runs"][candidate.experiment_id]["output"] == "Rome"

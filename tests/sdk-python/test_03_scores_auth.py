"""Scores through the SDK (→ `POST /api/public/scores` with a JSON array, answered
202/207), `auth_check()` / `get_trace_url()` (→ `GET /api/public/projects`) and flush."""

from __future__ import annotations

import secrets

import pytest

from checks import assert_subset
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

"""A small client for glassbox's public read API, with polling helpers.

glassbox makes data readable as soon as a write is answered 2xx, but the Langfuse SDK
exports asynchronously (BatchSpanProcessor, score and media queues). After
`langfuse.flush()` the helpers here poll the read API for a few seconds until the
expected data is there, then hand the last response to the test, which asserts on it.

Every request/response is recorded in `exchanges` so that failure reports can show them.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

POLL_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.1
MAX_BODY_CHARS = 6000


@dataclass
class Exchange:
    method: str
    url: str
    status: Optional[int] = None
    body: str = ""
    error: Optional[str] = None

    def describe(self) -> str:
        head = f"{self.method} {self.url} -> " + (
            f"network error {self.error}" if self.error else f"HTTP {self.status}"
        )
        text = self.body
        if len(text) > MAX_BODY_CHARS:
            text = text[:MAX_BODY_CHARS] + f"... ({len(self.body) - MAX_BODY_CHARS} more chars)"
        return f"{head}\n  response body: {text}"


@dataclass
class Response:
    status: int
    text: str
    json: Any = None


@dataclass
class ReadApi:
    base_url: str
    public_key: str
    secret_key: str
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def auth_header(self) -> str:
        token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        return f"Basic {token}"

    def request(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                auth: bool = True) -> Response:
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        data = None
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = self.auth_header
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        ex = Exchange(method=method, url=url)
        self.exchanges.append(ex)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                status, raw = res.status, res.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        except Exception as err:
            ex.error = repr(err)
            raise
        text = raw.decode("utf-8", "replace")
        ex.status, ex.body = status, text
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return Response(status=status, text=text, json=parsed)

    def get(self, path: str, **params: Any) -> Response:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    # -- endpoints -------------------------------------------------------------------
    def trace(self, trace_id: str) -> Response:
        return self.get(f"/api/public/traces/{urllib.parse.quote(trace_id, safe='')}")

    def observations_v1(self, **params: Any) -> Response:
        return self.get("/api/public/observations", **params)

    def observation_v1(self, observation_id: str) -> Response:
        return self.get(f"/api/public/observations/{urllib.parse.quote(observation_id, safe='')}")

    def observations_v2(self, **params: Any) -> Response:
        return self.get("/api/public/v2/observations", **params)

    def scores_v2(self, **params: Any) -> Response:
        return self.get("/api/public/v2/scores", **params)

    # -- polling ---------------------------------------------------------------------
    def poll(self, fetch: Callable[[], Response], ready: Callable[[Response], bool],
             timeout: float = POLL_TIMEOUT_S) -> Response:
        """Calls `fetch` until `ready(response)` or the timeout; returns the last response."""
        deadline = time.monotonic() + timeout
        while True:
            res = fetch()
            try:
                if ready(res):
                    return res
            except Exception:
                pass
            if time.monotonic() >= deadline:
                return res
            time.sleep(POLL_INTERVAL_S)

    def wait_trace(self, trace_id: str, *, observations: int = 0, scores: int = 0,
                   predicate: Callable[[dict], bool] | None = None,
                   timeout: float = POLL_TIMEOUT_S) -> dict:
        """Polls GET /traces/{id} until it answers 200 with at least `observations`
        observations and `scores` scores (and `predicate(trace)` holds). Fails the test
        with the last answer when that does not happen in time."""

        def ready(res: Response) -> bool:
            if res.status != 200 or not isinstance(res.json, dict):
                return False
            t = res.json
            if len(t.get("observations") or []) < observations:
                return False
            if len(t.get("scores") or []) < scores:
                return False
            return predicate(t) if predicate else True

        res = self.poll(lambda: self.trace(trace_id), ready, timeout)
        dump_dir = os.environ.get("GLASSBOX_TEST_DUMP")
        if dump_dir:  # debugging aid: keep what the server returned
            os.makedirs(dump_dir, exist_ok=True)
            with open(os.path.join(dump_dir, f"trace-{trace_id}.json"), "w") as fh:
                fh.write(json.dumps(res.json, indent=2) if res.json is not None else res.text)
        if not ready(res):
            got = "no JSON body"
            if isinstance(res.json, dict):
                obs = res.json.get("observations") or []
                got = (
                    f"{len(obs)} observations "
                    f"{[(o.get('name'), o.get('type')) for o in obs]}, "
                    f"{len(res.json.get('scores') or [])} scores"
                )
            raise AssertionError(
                f"GET /api/public/traces/{trace_id} did not reach the expected state within "
                f"{timeout} s (wanted >= {observations} observations, >= {scores} scores"
                f"{', predicate' if predicate else ''}); last answer HTTP {res.status}: {got}\n"
                f"body: {res.text[:MAX_BODY_CHARS]}"
            )
        return res.json


def by_name(observations: list[dict], name: str) -> dict:
    """The one observation called `name` (fails if missing or ambiguous)."""
    found = [o for o in observations if o.get("name") == name]
    assert len(found) == 1, (
        f"expected exactly one observation named {name!r}, found {len(found)}; "
        f"names: {sorted(str(o.get('name')) for o in observations)}"
    )
    return found[0]


def all_named(observations: list[dict], name: str) -> list[dict]:
    return [o for o in observations if o.get("name") == name]


class Scenario(dict):
    """The result of a module's scenario fixture. A value that is an exception (e.g. the
    trace never became readable) is raised when a test reads it, so that each test fails
    on its own instead of the whole module erroring in setup."""

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if isinstance(value, BaseException):
            raise value
        return value


def attempt(fn: Callable[[], Any]) -> Any:
    """fn() or the AssertionError it raised (for `Scenario` values)."""
    try:
        return fn()
    except AssertionError as err:
        return err

"""Media: an image in an observation input, as a `LangfuseMedia` object and as a base64
data URI. The SDK replaces it in the span by `@@@langfuseMedia:type=...|id=...|source=...@@@`
and uploads it: POST /api/public/media → PUT {uploadUrl} (no auth) → PATCH
/api/public/media/{id}. The reference must resolve through GET /api/public/media/{id}.

Skipped (with the reason) while the server has no media API (POST /api/public/media → 404)."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request

import pytest

from read_api import Scenario, attempt, by_name
from sdk_logs import SDK_LOGS

# A 1x1 transparent PNG (68 bytes).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
REFERENCE = re.compile(r"^@@@langfuseMedia:type=(?P<type>[^|]+)\|id=(?P<id>[^|]+)\|source=(?P<source>[^@]+)@@@$")


def expected_media_id(content: bytes) -> str:
    """What the SDK computes itself: base64url(sha256(bytes))[:22]."""
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).decode()[:22]


@pytest.fixture(scope="module")
def media_api(_read_api):
    # An empty body: the route exists and rejects the empty registration.
    probe = _read_api.request("POST", "/api/public/media", body={})
    assert probe.status == 400, (probe.status, probe.text[:200])
    return probe


@pytest.fixture(scope="module")
def scenario(media_api, langfuse, _read_api):
    from langfuse.media import LangfuseMedia

    mark = SDK_LOGS.mark()
    data_uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    with langfuse.start_as_current_observation(name="media-root") as root:
        trace_id = root.trace_id
        with langfuse.start_as_current_observation(
            as_type="generation",
            name="media-gen",
            input={"image": LangfuseMedia(content_bytes=PNG, content_type="image/png"), "text": "describe"},
            output="a transparent pixel",
        ) as gen:
            gen_id = gen.id
        with langfuse.start_as_current_observation(
            name="data-uri-span",
            input=[{"type": "image_url", "image_url": {"url": data_uri}}],
        ) as span:
            span_id = span.id
    langfuse.flush()
    return Scenario(
        trace_id=trace_id,
        gen_id=gen_id,
        span_id=span_id,
        trace=attempt(lambda: _read_api.wait_trace(trace_id, observations=3)),
        sdk_errors=SDK_LOGS.errors_since(mark),
    )


def _reference(value: str) -> dict:
    match = REFERENCE.match(value or "")
    assert match, f"not a media reference string: {value!r}"
    return match.groupdict()


def test_sdk_upload_succeeded(scenario):
    assert scenario["sdk_errors"] == [], "the SDK logged errors (media upload / export)"


def test_media_reference_in_input(scenario):
    obs = scenario["trace"]["observations"]
    gen = by_name(obs, "media-gen")
    ref = _reference(gen["input"]["image"])
    assert ref == {"type": "image/png", "id": expected_media_id(PNG), "source": "bytes"}
    assert gen["input"]["text"] == "describe"

    span = by_name(obs, "data-uri-span")
    ref = _reference(span["input"][0]["image_url"]["url"])
    assert ref == {"type": "image/png", "id": expected_media_id(PNG), "source": "base64_data_uri"}


def test_media_resolves(scenario, api):
    media_id = expected_media_id(PNG)
    res = api.poll(
        lambda: api.get(f"/api/public/media/{media_id}"),
        lambda r: r.status == 200 and r.json.get("uploadedAt"),
    )
    assert res.status == 200, f"GET /api/public/media/{media_id}: HTTP {res.status} {res.text[:500]}"
    media = res.json
    assert media["mediaId"] == media_id
    assert media["contentType"] == "image/png"
    assert media["contentLength"] == len(PNG)
    assert media["uploadedAt"]
    assert media["url"], media
    url = media["url"] if "://" in media["url"] else api.base_url + media["url"]
    with urllib.request.urlopen(url, timeout=10) as download:
        assert download.read() == PNG, "the presigned URL serves the uploaded bytes"

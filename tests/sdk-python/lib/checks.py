"""Assertion helpers shared by the scenarios."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 (`...Z` or with offset) → aware datetime."""
    if value is None:
        return None
    text = value.replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def maybe_json(value: Any) -> Any:
    """v2 observations return io as raw stored strings; decode when it is JSON."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def assert_subset(actual: Any, expected: dict, what: str) -> None:
    """Every key of `expected` is in `actual` with an equal value (floats approximately)."""
    assert isinstance(actual, dict), f"{what}: expected an object, got {actual!r}"
    problems = []
    for key, want in expected.items():
        if key not in actual:
            problems.append(f"missing key {key!r} (want {want!r})")
            continue
        got = actual[key]
        if isinstance(want, float) or isinstance(got, float):
            ok = isinstance(got, (int, float)) and not isinstance(got, bool) and math.isclose(
                float(got), float(want), rel_tol=1e-9, abs_tol=1e-12
            )
        else:
            ok = got == want
        if not ok:
            problems.append(f"{key!r}: got {got!r}, want {want!r}")
    assert not problems, f"{what}: " + "; ".join(problems) + f"\nfull value: {actual!r}"


def parent_map(observations: list[dict]) -> dict[str, str | None]:
    """name → name of the parent observation (None for roots)."""
    by_id = {o["id"]: o for o in observations}
    out: dict[str, str | None] = {}
    for o in observations:
        parent = o.get("parentObservationId")
        out[o["name"]] = by_id[parent]["name"] if parent in by_id else (None if parent is None else f"<missing {parent}>")
    return out

"""Sends the e2e journeys' traces with the official Langfuse Python SDK (the venv of
tests/sdk-python), as an application would, and prints their ids as one JSON line.

    python send_traces.py <host> <public key> <secret key>

Three traces, oldest first: two turns of session `sess-1` by `alice` (the first with a
`retrieve` span and a gpt-4o `answer` generation with chat messages, usage and cost),
and a `nightly-batch` by `bob` with an ERROR span and a claude generation.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone

from langfuse import Langfuse, propagate_attributes


def main() -> None:
    host, public_key, secret_key = sys.argv[1:4]
    langfuse = Langfuse(public_key=public_key, secret_key=secret_key, base_url=host, timeout=10)
    ids: dict[str, str] = {}

    with propagate_attributes(user_id="alice", session_id="sess-1", tags=["prod"], trace_name="chat-support"):
        with langfuse.start_as_current_observation(name="chat-support", input="capital?") as root:
            with langfuse.start_as_current_observation(name="retrieve", input={"query": "france"}) as span:
                span.update(output=["doc-1"])
            started = datetime.now(timezone.utc)
            with langfuse.start_as_current_observation(
                as_type="generation",
                name="answer",
                model="gpt-4o",
                input=[
                    {"role": "system", "content": "You are a geography assistant."},
                    {"role": "user", "content": "What is the capital of France?"},
                ],
            ) as generation:
                time.sleep(0.05)
                generation.update(
                    output={"role": "assistant", "content": "The capital of France is Paris."},
                    usage_details={"input": 20, "output": 8, "total": 28},
                    cost_details={"input": 0.001, "output": 0.002, "total": 0.003},
                    completion_start_time=started + timedelta(milliseconds=20),
                )
                ids["generation"] = generation.id
            root.update(output="Paris.")
            root.score_trace(name="helpfulness", value=0.9, data_type="NUMERIC")
            ids["trace1"] = root.trace_id
    time.sleep(0.02)

    with propagate_attributes(user_id="alice", session_id="sess-1", trace_name="chat-support"):
        with langfuse.start_as_current_observation(name="chat-support", input="and Germany?") as root:
            root.update(output="Berlin.")
            ids["trace2"] = root.trace_id
    time.sleep(0.02)

    with propagate_attributes(user_id="bob", trace_name="nightly-batch"):
        with langfuse.start_as_current_observation(name="nightly-batch") as root:
            with langfuse.start_as_current_observation(name="load") as span:
                span.update(level="ERROR", status_message="timeout")
            with langfuse.start_as_current_observation(
                as_type="generation", name="summarise", model="claude-3-5-sonnet", input="summarise the batch"
            ) as generation:
                generation.update(
                    output="done",
                    usage_details={"input": 100, "output": 20},
                    cost_details={"total": 0.01},
                )
                ids["claudeGeneration"] = generation.id
            ids["trace3"] = root.trace_id

    langfuse.flush()
    langfuse.shutdown()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()

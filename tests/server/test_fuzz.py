"""schemathesis against a real server: every answer fits /openapi.json, and none is a 5xx.

The example app on Hypercorn, on loopback, fuzzed from its own description with a fixed seed
and a fixed number of examples per operation. The development page of the docs shows the
same run by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, running_server, tool_environment

pytestmark = pytest.mark.server

#: Checks left out, and why; none is about server errors or the schema. Arguments are read
#: the way pydantic reads them by default, so ``{"n": "3"}`` is accepted as 3
#: (negative_data_rejection); DELETE cancels a task and its record stays readable, by design
#: (use_after_free); Quart answers OPTIONS for a URL with every method any route of that
#: shape takes, and the per-task paths ``/tasks/<name>`` share their shape with
#: ``/tasks/<id>`` (allow_header_conformance).
EXCLUDED_CHECKS = "negative_data_rejection,use_after_free,allow_header_conformance"
#: The event streams never end by themselves (``/events``) or not before a task does.
STREAMS = ("all_events", "task_events")


def fuzz_command(url: str, *, examples: int = 25, seed: int = 12) -> list[str]:
    excluded = [arg for operation in STREAMS for arg in ("--exclude-operation-id", operation)]
    return [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(ROOT / "schemathesis.toml"),  # why: see the file
        "run", f"{url}/openapi.json",
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        *excluded,
        "--max-examples", str(examples), "--seed", str(seed),
        "--generation-database", "none", "--request-timeout", "10", "--workers", "1",
        "--max-redirects", "0",  # a redirect is checked as the answer it is
        "--no-color",
    ]  # fmt: skip


@pytest.mark.timeout(400)
def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    settings = {
        # The fuzzer starts tasks of every kind: keep few running, and stop them at the end.
        "QUART_TASKS_MAX_RUNNING": "2",
        "QUART_BACKGROUND_TASK_SHUTDOWN_TIMEOUT": "1",
        "QUART_LOG_LEVEL": "CRITICAL",
    }
    with running_server(tmp_path, settings) as server:
        result = subprocess.run(
            fuzz_command(server.url),
            cwd=tmp_path,
            env=tool_environment(),
            capture_output=True,
            text=True,
            timeout=360,
            check=False,
        )
    report = result.stdout[-20_000:] + result.stderr[-5_000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout or " passed" in result.stdout, report

"""mypy sees a task handle's ``submit``, and a producer's, with the function's own parameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, tool_environment

SNIPPET = """
from typing import Any

import psycopg

from tasks import Producer, Registry, TaskRecord

registry = Registry()


@registry.task(retries=3)
async def send_report(user_id: int, fmt: str = "pdf") -> dict[str, str]:
    return {"fmt": fmt}


async def accepted() -> TaskRecord:
    await send_report.submit(7)
    await send_report.options(timeout=30).submit(user_id=7, fmt="csv")
    return await send_report.submit(user_id=7)


async def refused() -> None:
    await send_report.submit(user_id="seven")  # line 23
    await send_report.options(retries=1).submit(7, fmt=1)  # line 24
    await send_report.submit(7, colour="red")  # line 25
    plain: int = await send_report(7)  # line 26
    await send_report.options(delay="soon").submit(7)  # line 27


async def later_and_once() -> TaskRecord:
    from datetime import UTC, datetime, timedelta

    await send_report.options(delay=60, key="report-7").submit(7)
    await send_report.options(delay=timedelta(hours=1)).submit(7)
    return await send_report.options(at=datetime(2030, 1, 1, tzinfo=UTC)).submit(user_id=7)


def produced() -> TaskRecord:
    from tasks import Producer

    producer = Producer(registry, database="sqlite:///tasks.sqlite3")
    producer.submit(send_report, 7)
    producer.submit(send_report.options(delay=60), user_id=7, fmt="csv")
    producer.submit(send_report, user_id="seven")  # line 44
    return producer.submit(send_report, user_id=7)


def in_transaction(producer: Producer, conn: psycopg.Connection[Any]) -> TaskRecord:
    producer.submit(send_report, user_id=7, connection=conn)
    producer.submit(send_report.options(connection=conn), user_id="seven")  # line 50
    return producer.submit(send_report.options(connection=conn), 7, fmt="csv")
"""


@pytest.mark.timeout(330)
def test_mypy_checks_submit_against_the_tasks_signature(tmp_path: Path) -> None:
    path = tmp_path / "snippet.py"
    path.write_text(SNIPPET)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir",
         str(tmp_path / "cache"), str(path)],
        cwd=ROOT, env=tool_environment(), capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    errors = sorted(
        int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line
    )
    assert errors == [23, 24, 25, 26, 27, 44, 50], result.stdout + result.stderr
    assert 'Argument "user_id" to "submit" of "TaskHandle" has incompatible type "str"' in (
        result.stdout
    )

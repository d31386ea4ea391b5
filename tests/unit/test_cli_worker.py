"""``tasks worker`` refuses what cannot work, before it starts anything."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Invoke


def test_a_worker_needs_a_shared_store(cli: Invoke) -> None:
    for broker in ("redis://127.0.0.1:1/0", ""):
        result = cli("worker", TASKS_DATABASE=":memory:", TASKS_BROKER=broker)
        assert result.exit_code == 2
        assert "must share the store of the web processes" in result.output


def test_the_help_names_the_concurrency_option(cli: Invoke) -> None:
    result = cli("worker", "--help")
    assert result.exit_code == 0
    assert "--concurrency N" in result.output
    assert "TASKS_MAX_RUNNING" in result.output


def test_a_bad_concurrency_is_a_usage_error(cli: Invoke) -> None:
    result = cli("worker", "--concurrency", "0", TASKS_BROKER="redis://127.0.0.1:1/0")
    assert result.exit_code == 2
    assert "--concurrency" in result.output


def test_a_queue_no_task_uses_is_a_usage_error(cli: Invoke, tmp_path: Path) -> None:
    database = str(tmp_path / "tasks.sqlite3")
    result = cli("worker", "--queue", "emails", TASKS_DATABASE=database)
    assert result.exit_code == 2
    assert "no task of this app waits in queue 'emails' (its queues: default, email)" in (
        result.output
    )
    bad = cli("worker", "--queue", "no spaces", TASKS_DATABASE=database)
    assert bad.exit_code == 2
    assert "a queue name is 1 to 64 letters" in bad.output


def test_metrics_a_worker_does_not_keep_cannot_be_served(cli: Invoke, tmp_path: Path) -> None:
    database = str(tmp_path / "tasks.sqlite3")
    result = cli("worker", "--metrics-port", "9100", TASKS_DATABASE=database, TASKS_METRICS=False)
    assert result.exit_code == 2
    assert "TASKS_METRICS is false: this app keeps no metrics" in result.output
    bad = cli("worker", "--metrics-port", "70000", TASKS_DATABASE=database)
    assert bad.exit_code == 2
    assert "--metrics-port" in bad.output
    help_text = cli("worker", "--help").output
    assert "--metrics-port PORT" in help_text
    assert "--metrics-host HOST" in help_text

"""Configuration: ``QUART_*`` environment variables reach the runner; mistakes stop the app."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from quart import Quart

from quart_app import create_app
from tasks import MemoryStore, SQLiteStore, Tasks


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No QUART_* variable of the outer environment leaks in; the tasks log level is restored."""
    import os

    for key in [key for key in os.environ if key.startswith("QUART_")]:
        monkeypatch.delenv(key)
    level = logging.getLogger("tasks").level
    yield
    logging.getLogger("tasks").setLevel(level)


def extension(app: Quart) -> Tasks:
    tasks: Tasks = app.extensions["tasks"]
    return tasks


async def test_environment_variables_reach_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "QUART_TASKS_DATABASE": ":memory:",
        "QUART_TASKS_MAX_RUNNING": "3",
        "QUART_TASKS_MAX_QUEUED": "7",
        "QUART_TASKS_THREADS": "5",
        "QUART_TASKS_PROGRESS_INTERVAL": "0.5",
        "QUART_TASKS_CANCEL_WAIT": "0.25",
        "QUART_TASKS_SQLITE_SYNCHRONOUS": "FULL",
    }.items():
        monkeypatch.setenv(key, value)

    app = create_app()
    settings = extension(app).settings
    async with app.test_app():
        runner = extension(app).runner
        assert runner.max_running == 3
        assert runner.max_queued == 7
        assert runner.progress.interval == 0.5
        assert runner.cancel_wait == 0.25
        assert isinstance(runner.store, MemoryStore)

    assert settings.thread_count == 5
    assert settings.sqlite_synchronous == "FULL"


def test_the_thread_pool_defaults_to_max_running_plus_four(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUART_TASKS_MAX_RUNNING", "2")

    settings = extension(create_app({"TASKS_DATABASE": ":memory:"})).settings

    assert settings.max_running == 2
    assert settings.thread_count == 6


def test_explicit_config_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_TASKS_MAX_RUNNING", "3")

    app = create_app({"TASKS_DATABASE": ":memory:", "TASKS_MAX_RUNNING": 5})

    assert extension(app).settings.max_running == 5


def test_app_settings_come_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("QUART_LOG_LEVEL", "WARNING")

    app = create_app({"TASKS_DATABASE": ":memory:"})

    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert logging.getLogger("tasks").level == logging.WARNING


@pytest.mark.parametrize(
    "misspelled", ["QUART_TASKS_MAX_RUNING", "QUART_TASKS_MAXQUEUED", "QUART_TASKS_DB"]
)
def test_a_misspelled_tasks_key_stops_the_app(
    monkeypatch: pytest.MonkeyPatch, misspelled: str
) -> None:
    monkeypatch.setenv(misspelled, "2")

    with pytest.raises(ValueError, match=misspelled.removeprefix("QUART_")) as raised:
        create_app({"TASKS_DATABASE": ":memory:"})

    assert "TASKS_MAX_RUNNING" in str(raised.value)  # the known keys are listed


def test_a_misspelled_key_in_explicit_config_stops_the_app() -> None:
    with pytest.raises(ValueError, match=r"TASKS_MAX_QUEUE\b"):
        create_app({"TASKS_DATABASE": ":memory:", "TASKS_MAX_QUEUE": 5})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("QUART_TASKS_MAX_RUNNING", "0"),
        ("QUART_TASKS_MAX_RUNNING", "many"),
        ("QUART_TASKS_MAX_RUNNING", "2.5"),
        ("QUART_TASKS_MAX_QUEUED", "-1"),
        ("QUART_TASKS_THREADS", "-2"),
        ("QUART_TASKS_PROGRESS_INTERVAL", "61"),
        ("QUART_TASKS_CANCEL_WAIT", "-1"),
        ("QUART_TASKS_SQLITE_SYNCHRONOUS", "SOMETIMES"),
    ],
)
def test_an_out_of_range_value_stops_the_app_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str
) -> None:
    monkeypatch.setenv(key, value)

    with pytest.raises(ValueError, match=key.removeprefix("QUART_")) as raised:
        create_app({"TASKS_DATABASE": ":memory:"})

    assert value in str(raised.value)


def test_a_bad_log_level_stops_the_app_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_LOG_LEVEL", "LOUD")

    with pytest.raises(ValueError, match=r"LOG_LEVEL.*'LOUD'"):
        create_app({"TASKS_DATABASE": ":memory:"})


async def test_memory_selects_the_memory_store() -> None:
    app = create_app({"TASKS_DATABASE": ":memory:"})

    async with app.test_app():
        assert isinstance(extension(app).runner.store, MemoryStore)


@pytest.mark.parametrize("prefix", ["", "sqlite:///"])
async def test_a_path_selects_the_sqlite_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prefix: str
) -> None:
    path = tmp_path / "records.sqlite3"
    monkeypatch.setenv("QUART_TASKS_DATABASE", f"{prefix}{path}")
    app = create_app()

    async with app.test_app():
        store = extension(app).runner.store
        assert isinstance(store, SQLiteStore)
        assert store.path == path

    assert path.exists()


def test_the_default_store_is_a_file_in_the_instance_folder() -> None:
    app = create_app()

    assert extension(app).database(app) == str(Path(app.instance_path) / "tasks.sqlite3")


def test_an_unsupported_store_url_stops_the_app_at_once() -> None:
    with pytest.raises(ValueError, match="TASKS_DATABASE: unsupported task store 'redis'"):
        create_app({"TASKS_DATABASE": "redis://db/tasks"})


def test_a_postgres_url_without_the_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [name for name in sys.modules if name.startswith("tasks.store.postgres")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails

    with pytest.raises(ValueError, match=r"needs the 'postgres' extra.*\[postgres\]"):
        create_app({"TASKS_DATABASE": "postgresql://db/tasks"})


async def test_the_host_id_is_the_host_part_of_the_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUART_TASKS_HOST_ID", "machine-b")
    app = create_app({"TASKS_DATABASE": ":memory:"})

    async with app.test_app():
        assert extension(app).runner.owner.startswith("machine-b:")


def test_a_host_id_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError, match="TASKS_HOST_ID"):
        create_app({"TASKS_DATABASE": ":memory:", "TASKS_HOST_ID": "a:b"})


def test_the_event_stream_settings_are_read_with_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = extension(create_app({"TASKS_DATABASE": ":memory:"})).settings
    assert (defaults.events_poll_interval, defaults.events_keepalive_interval) == (0.5, 15.0)
    monkeypatch.setenv("QUART_EVENTS_KEEPALIVE_INTERVAL", "3")
    app = create_app({"TASKS_DATABASE": ":memory:", "EVENTS_POLL_INTERVAL": 0.2})

    settings = extension(app).settings

    assert (settings.events_poll_interval, settings.events_keepalive_interval) == (0.2, 3.0)


def test_the_event_stream_settings_keep_their_names() -> None:
    with pytest.raises(ValueError, match="unknown setting TASKS_EVENTS_POLL_INTERVAL"):
        create_app({"TASKS_DATABASE": ":memory:", "TASKS_EVENTS_POLL_INTERVAL": 1})

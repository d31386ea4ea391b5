"""The role of a process, decided once from its settings and how it was started."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.app.role import Kind, Role, StartedAs
from tasks.app.settings import Settings
from tests.conftest import AppFactory

BROKER = {"TASKS_BROKER": "redis://127.0.0.1:6379/0"}

#: (what the role answers, in this order) → the columns of the table below
COLUMNS = (
    "kind",
    "claims",
    "claims_ahead",
    "holds",
    "takes_from_broker",
    "follows_store",
    "metrics",
    "clocks",
    "retention",
    "serves_http",
    "forwards_sigterm",
)
S, W, K, C = Kind.STANDALONE, Kind.WEB, Kind.WORKER, Kind.COMMAND
SERVER, WORKER, COMMAND = StartedAs.SERVER, StartedAs.WORKER, StartedAs.COMMAND
Y, N = True, False
NO_CLAIM = {"TASKS_CLAIM": False}
NO_METRICS = {"TASKS_METRICS": False}
BROKER_NO_CLAIM = {**BROKER, **NO_CLAIM}
WEB_ONLY = {"TASKS_RUN_TASKS": False}

# fmt: off
TABLE: list[tuple[dict[str, Any], StartedAs, tuple[object, ...]]] = [
    # settings       started as kind claims ahead holds broker store metrics clocks retain http sig
    ({},              SERVER,  (S,  Y,     Y,    Y,    N,     N,    Y,      Y,     Y,     Y,   Y)),
    (NO_CLAIM,        SERVER,  (S,  N,     N,    Y,    N,     N,    Y,      N,     Y,     Y,   Y)),
    (NO_METRICS,      SERVER,  (S,  Y,     Y,    Y,    N,     N,    N,      Y,     Y,     Y,   Y)),
    (BROKER,          SERVER,  (W,  N,     N,    N,    N,     N,    Y,      N,     Y,     Y,   Y)),
    (WEB_ONLY,        SERVER,  (W,  N,     N,    N,    N,     N,    Y,      N,     Y,     Y,   Y)),
    (BROKER,          WORKER,  (K,  Y,     N,    N,    Y,     N,    N,      Y,     Y,     N,   N)),
    (BROKER_NO_CLAIM, WORKER,  (K,  N,     N,    N,    Y,     N,    N,      N,     Y,     N,   N)),
    ({},              COMMAND, (C,  N,     N,    Y,    N,     N,    Y,      N,     Y,     N,   N)),
    (WEB_ONLY,        COMMAND, (C,  N,     N,    Y,    N,     N,    Y,      N,     Y,     N,   N)),
    (BROKER,          COMMAND, (C,  N,     N,    N,    N,     N,    Y,      N,     Y,     N,   N)),
    # a worker without a broker takes its tasks from the store, as soon as it changes
    ({},              WORKER,  (K,  Y,     N,    Y,    N,     Y,    N,      Y,     Y,     N,   N)),
    (WEB_ONLY,        WORKER,  (K,  Y,     N,    Y,    N,     Y,    N,      Y,     Y,     N,   N)),
]
# fmt: on


@pytest.mark.parametrize(("config", "started_as", "expected"), TABLE)
def test_the_role_says_what_a_process_runs(
    config: dict[str, Any], started_as: StartedAs, expected: tuple[object, ...]
) -> None:
    role = Role.decide(Settings.from_config(config), started_as)
    assert tuple(getattr(role, column) for column in COLUMNS) == expected


def test_a_worker_runs_its_concurrency_and_sizes_its_threads_to_it() -> None:
    settings = Settings.from_config({**BROKER, "TASKS_MAX_RUNNING": 8})
    worker = Role.decide(settings, StartedAs.WORKER, concurrency=3)
    assert (worker.max_running, worker.threads) == (3, 7)
    server = Role.decide(settings)
    assert (server.max_running, server.threads) == (8, 12)
    pinned = Role.decide(Settings.from_config({"TASKS_THREADS": 2}))
    assert pinned.threads == 2


def test_only_a_worker_that_takes_from_the_store_prefetches_a_batch() -> None:
    settings = Settings.from_config({"TASKS_MAX_RUNNING": 6})
    assert Role.decide(settings, StartedAs.WORKER).prefetch == 6
    assert Role.decide(settings, StartedAs.WORKER, concurrency=2).prefetch == 2
    assert Role.decide(settings).prefetch == 0
    with_broker = Settings.from_config({**BROKER, "TASKS_MAX_RUNNING": 6})
    assert Role.decide(with_broker, StartedAs.WORKER).prefetch == 0


@pytest.mark.parametrize(
    ("config", "started_as", "where"),
    [
        ({}, StartedAs.SERVER, "tasks run in this process"),
        (BROKER, StartedAs.SERVER, "tasks handed to the broker's workers"),
        (BROKER, StartedAs.WORKER, "taking tasks from the broker"),
        (BROKER, StartedAs.COMMAND, "tasks handed to the broker's workers"),
        (WEB_ONLY, StartedAs.SERVER, "tasks stored for the workers (TASKS_RUN_TASKS is false)"),
        ({}, StartedAs.WORKER, "taking tasks from the store"),
    ],
)
def test_the_startup_line_says_where_tasks_run(
    config: dict[str, Any], started_as: StartedAs, where: str
) -> None:
    assert Role.decide(Settings.from_config(config), started_as).where_tasks_run == where


def test_the_extension_decides_the_role_from_its_settings(make_app: AppFactory) -> None:
    tasks = make_app().extensions["tasks"]
    assert tasks.role.kind is Kind.STANDALONE
    tasks.run_as_command()
    assert tasks.role.kind is Kind.COMMAND
    assert not tasks.role.claims


def test_run_as_worker_makes_the_role_a_worker(make_app: AppFactory) -> None:
    tasks = make_app(**BROKER, TASKS_MAX_RUNNING=5).extensions["tasks"]
    assert tasks.role.kind is Kind.WEB
    tasks.run_as_worker(2)
    assert (tasks.role.kind, tasks.role.max_running) == (Kind.WORKER, 2)
    without_broker = make_app().extensions["tasks"]
    without_broker.run_as_worker()
    assert without_broker.role.kind is Kind.WORKER
    assert without_broker.role.follows_store


def test_an_in_process_command_tells_the_extension_its_role_not_the_config(
    make_app: AppFactory,
) -> None:
    app = make_app()
    result = app.test_cli_runner().invoke(args=["tasks", "run", "noop", "--wait"])
    assert result.exit_code == 0, result.output
    assert "TASKS_CLAIM" not in app.config
    tasks = app.extensions["tasks"]
    assert tasks.role.kind is Kind.COMMAND
    assert tasks.role.claims is False

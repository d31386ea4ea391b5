"""hypercorn.toml: every key is a real Hypercorn setting, and the shutdown timeouts fit together.

Hypercorn sets each TOML key on its ``Config`` and silently skips what it does not know, so
a misspelled key would change nothing and say nothing. These tests are the spell check.
"""

from __future__ import annotations

import importlib.util
import inspect
import tomllib
from pathlib import Path
from types import FunctionType

import pytest
from hypercorn.config import Config

from quart_app.config import DEFAULTS

HYPERCORN_TOML = Path(__file__).resolve().parents[2] / "hypercorn.toml"

#: Seconds the app needs after its background tasks are done: the store's last writes and close.
SHUTDOWN_MARGIN = 5


def hypercorn_settings() -> frozenset[str]:
    """Names a Hypercorn config file can set: public, writable ``Config`` attributes."""
    settings = set()
    for name in set(dir(Config)) | set(Config.__annotations__):
        if name.startswith("_"):
            continue
        try:
            value = inspect.getattr_static(Config, name)
        except AttributeError:  # annotated without a default, e.g. application_path
            settings.add(name)
            continue
        if isinstance(value, FunctionType | classmethod | staticmethod):
            continue
        if isinstance(value, property) and value.fset is None:
            continue
        settings.add(name)
    return frozenset(settings)


def unknown_keys(document: str) -> list[str]:
    """The keys of a Hypercorn TOML document that ``Config`` would silently ignore."""
    return sorted(set(tomllib.loads(document)) - hypercorn_settings())


def test_every_key_in_hypercorn_toml_is_a_hypercorn_setting() -> None:
    keys = tomllib.loads(HYPERCORN_TOML.read_text())

    assert keys, "hypercorn.toml sets nothing"
    assert unknown_keys(HYPERCORN_TOML.read_text()) == []


@pytest.mark.parametrize(
    "misspelled",
    [
        "gracefull_timeout = 30",
        "shutdown_timout = 30",
        'worker-class = "uvloop"',
        "Workers = 2",
        "keepalive_timeout = 5",
        'log_level = "INFO"',
        'binds = ["127.0.0.1:8000"]',
        'from_toml = "x"',  # a method, not a setting
        "ssl_enabled = true",  # read-only
        '_bind = ["127.0.0.1:8000"]',  # private
    ],
)
def test_the_spell_check_rejects_a_key_hypercorn_would_ignore(misspelled: str) -> None:
    document = f'bind = ["127.0.0.1:8000"]\ngraceful_timeout = 5\n{misspelled}\n'

    assert unknown_keys(document) == [misspelled.split(" ")[0]]


def test_the_spell_check_accepts_real_settings() -> None:
    document = """
        bind = ["127.0.0.1:8000"]
        insecure_bind = ["127.0.0.1:8080"]
        root_path = "/api"
        application_path = "."
        worker_class = "asyncio"
        workers = 2
        access_log_format = "%(h)s %(r)s %(s)s"
        h11_max_incomplete_size = 16384
        max_requests = 1000
    """

    assert unknown_keys(document) == []


def test_hypercorn_loads_every_value_from_the_file() -> None:
    values = tomllib.loads(HYPERCORN_TOML.read_text())

    config = Config.from_toml(HYPERCORN_TOML)

    for key, value in values.items():
        assert getattr(config, key) == value, key


def test_it_serves_on_loopback_port_8000_with_uvloop() -> None:
    config = Config.from_toml(HYPERCORN_TOML)

    assert config.bind == ["127.0.0.1:8000"]
    assert config.worker_class == "uvloop"
    assert importlib.util.find_spec("uvloop") is not None


def test_running_tasks_get_their_full_shutdown_window() -> None:
    config = Config.from_toml(HYPERCORN_TOML)
    background = DEFAULTS["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"]

    assert background > 0
    assert background + SHUTDOWN_MARGIN <= config.shutdown_timeout


def test_the_app_uses_the_background_timeout_the_check_assumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quart_app import create_app

    monkeypatch.delenv("QUART_BACKGROUND_TASK_SHUTDOWN_TIMEOUT", raising=False)
    app = create_app({"TASKS_DATABASE": str(tmp_path / "tasks.sqlite3")})

    assert (
        app.config["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"]
        == DEFAULTS["BACKGROUND_TASK_SHUTDOWN_TIMEOUT"]
    )

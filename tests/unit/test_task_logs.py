"""Log records that name the task: ``task_id`` and ``task_name`` on every record emitted while
a task runs (its own ``logging`` calls, coroutine and thread tasks), None elsewhere; and the
JSON format of the ``tasks`` log's own lines."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

import pytest

from tasks import Registry
from tasks.app import logs
from tasks.testing import running
from tests.harness import app_with_registry


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def kept() -> Iterator[Kept]:
    """The records of the ``shop`` logger, as an app's own code would log them."""
    logger = logging.getLogger("shop")
    handler = Kept()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


async def test_a_task_s_own_log_lines_carry_its_id_and_name(registry: Registry, kept: Kept) -> None:
    shop = logging.getLogger("shop")

    @registry.task
    async def charge(order: int) -> None:
        shop.info("charging order %d", order)

    @registry.task
    def render(order: int) -> None:  # a thread task
        shop.warning("rendering order %d", order)

    app = app_with_registry(registry)
    async with running(app) as harness:
        shop.info("before any task")
        charged = await harness.runner.submit("charge", {"order": 7})
        rendered = await harness.runner.submit("render", {"order": 8})
        for record in (charged, rendered):
            assert (await harness.wait_for(record.id)).state.terminal
    by_message = {record.getMessage(): record for record in kept.records}
    assert (by_message["charging order 7"].task_id, by_message["charging order 7"].task_name) == (
        charged.id,
        "charge",
    )
    assert by_message["rendering order 8"].task_id == rendered.id
    assert by_message["rendering order 8"].task_name == "render"
    outside = by_message["before any task"]
    assert (outside.task_id, outside.task_name) == (None, None)


def test_the_names_can_be_printed_by_any_formatter(kept: Kept) -> None:
    logs.name_tasks_in_logs()
    logs.name_tasks_in_logs()  # once is enough: the factory is not wrapped twice
    logging.getLogger("shop").info("outside")
    formatted = logging.Formatter("%(task_id)s %(task_name)s %(message)s").format(kept.records[0])
    assert formatted == "None None outside"


def test_the_json_format_is_one_object_a_line_with_the_task() -> None:
    record = logging.LogRecord("tasks", logging.ERROR, __file__, 1, "task %s failed", ("x",), None)
    record.task_id, record.task_name = "abc", "charge"
    try:
        raise ValueError("card declined")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry | {"time": None, "process": None, "exception": None} == {
        "time": None,
        "level": "ERROR",
        "logger": "tasks",
        "process": None,
        "message": "task x failed",
        "task_id": "abc",
        "task_name": "charge",
        "exception": None,
    }
    assert entry["time"].endswith("Z")
    assert "ValueError: card declined" in entry["exception"]


def test_tasks_log_format_json_writes_the_default_handler_as_json(registry: Registry) -> None:
    try:
        app_with_registry(registry, TASKS_LOG_FORMAT="json")
        assert isinstance(logs.default_handler.formatter, logs.JsonFormatter)
        app_with_registry(registry)
        assert not isinstance(logs.default_handler.formatter, logs.JsonFormatter)
        with pytest.raises(ValueError, match="TASKS_LOG_FORMAT: Input should be 'text' or 'json'"):
            app_with_registry(registry, TASKS_LOG_FORMAT="xml")
    finally:
        logs.use_format("text")

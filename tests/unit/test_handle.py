"""``@registry.task`` handles: a plain call, ``submit`` and ``options(...).submit``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field
from quart import Quart

from tasks import (
    InvalidArguments,
    InvalidOptions,
    NoAppContext,
    Registry,
    State,
    TaskHandle,
    Tasks,
)
from tasks.testing import running

registry = Registry()


@registry.task(retries=2)
async def send_report(user_id: Annotated[int, Field(ge=1)], fmt: str = "pdf") -> str:
    """Pretend to build a report."""
    return f"{user_id}.{fmt}"


@registry.task
def total(values: list[int]) -> int:
    return sum(values)


def make_app(tmp_path: Path, tasks_registry: Registry = registry) -> Quart:
    app = Quart(__name__)
    app.config.update(TASKS_DATABASE=str(tmp_path / "tasks.sqlite3"))
    Tasks(app, registry=tasks_registry)
    return app


async def test_the_handle_is_still_the_plain_function() -> None:
    assert isinstance(send_report, TaskHandle)
    assert send_report.__name__ == "send_report"
    assert send_report.__doc__ == "Pretend to build a report."
    assert await send_report(3, fmt="csv") == "3.csv"
    assert total([1, 2, 3]) == 6  # a bare @registry.task works too
    assert registry.get("total").is_async is False


async def test_submit_stores_and_runs_the_task(tmp_path: Path) -> None:
    async with running(make_app(tmp_path)) as harness:
        record = await send_report.submit(7)  # positional arguments go by their names
        assert record.kwargs == {"user_id": 7, "fmt": "pdf"}
        assert record.max_attempts == 3
        assert (await harness.record(record.id)).id == record.id  # durable once returned
        finished = await harness.wait_for(record.id)
        assert finished.state is State.SUCCEEDED
        assert finished.result == "7.pdf"
        threaded = await harness.wait_for((await total.submit(values=[4, 5])).id)
        assert threaded.result == 9


async def test_options_set_one_call_without_touching_parameter_names(tmp_path: Path) -> None:
    async with running(make_app(tmp_path)) as harness:
        record = await send_report.options(timeout=5, retries=0).submit(user_id=2, fmt="csv")
        assert record.timeout == 5
        assert record.max_attempts == 1
        assert (await harness.wait_for(record.id)).result == "2.csv"
        with pytest.raises(InvalidOptions, match="retries must be"):
            await send_report.options(retries=-1).submit(1)


async def test_bad_arguments_raise_before_anything_is_stored(tmp_path: Path) -> None:
    async with running(make_app(tmp_path)) as harness:
        with pytest.raises(InvalidArguments, match="argument 'user_id'"):
            await send_report.submit(user_id=0)
        with pytest.raises(InvalidArguments, match="argument 'user_id' is required"):
            await send_report.submit(fmt="csv")  # type: ignore[call-arg]
        with pytest.raises(InvalidArguments, match="unexpected keyword argument 'colour'"):
            await send_report.submit(1, colour="red")  # type: ignore[call-arg]
        with pytest.raises(InvalidArguments, match="too many positional arguments"):
            await send_report.submit(1, "pdf", "extra")  # type: ignore[call-arg]
        assert await harness.runner.store.query() == []


async def test_submit_outside_the_app_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NoAppContext, match="app_context"):
        await send_report.submit(1)
    app = Quart(__name__)
    async with app.app_context():
        with pytest.raises(NoAppContext, match=r"Tasks\(app, registry=...\)"):
            await send_report.submit(1)


async def test_a_handle_of_another_registry_is_refused(tmp_path: Path) -> None:
    other = Registry()
    other.task(name="send_report")(send_report)  # same function, another registry
    async with running(make_app(tmp_path, other)):
        with pytest.raises(NoAppContext, match="not in the registry"):
            await send_report.submit(1)

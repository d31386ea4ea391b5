"""Idempotency keys from Python: one task per key, replays, conflicts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from quart import Quart

from tasks import IdempotencyConflict, InvalidOptions, Registry, SQLiteStore, State, Tasks
from tasks.idempotency import MAX_KEY_LENGTH
from tasks.testing import running

registry = Registry()


@registry.task
async def charge(order: int, cents: int = 100) -> int:
    return cents


@registry.task
async def refund(order: int) -> int:
    return order


def make_app(tmp_path: Path) -> Quart:
    app = Quart(__name__)
    app.config.update(TASKS_DATABASE=str(tmp_path / "tasks.sqlite3"))
    Tasks(app, registry=registry)
    return app


async def test_a_repeated_submission_gets_the_first_task_back(tmp_path: Path) -> None:
    async with running(make_app(tmp_path)) as harness:
        first = await charge.options(key="order-7").submit(order=7)
        assert first.idempotency_key == "order-7"
        again = await harness.runner.accept("charge", {"order": 7}, key="order-7")
        assert again.replayed
        assert again.record.id == first.id
        fresh = await harness.runner.accept("charge", {"order": 7})
        assert not fresh.replayed
        assert fresh.record.id != first.id
        await harness.wait_all()
        # after the first one has run, too: the key lives as long as its record
        late = await charge.options(key="order-7").submit(7, 100)
        assert late.id == first.id
        assert late.state is State.SUCCEEDED


async def test_the_same_key_with_other_arguments_or_another_task_is_a_conflict(
    tmp_path: Path,
) -> None:
    async with running(make_app(tmp_path)) as harness:
        first = await charge.options(key="k-1").submit(order=7)
        with pytest.raises(IdempotencyConflict, match="other arguments") as conflict:
            await charge.options(key="k-1").submit(order=8)
        assert conflict.value.status == 409
        assert conflict.value.code == "idempotency_key_conflict"
        with pytest.raises(IdempotencyConflict, match="'charge' task"):
            await refund.options(key="k-1").submit(order=7)
        assert [r.id for r in await harness.runner.store.query()] == [first.id]


async def test_twenty_concurrent_submissions_with_one_key_start_one_task(tmp_path: Path) -> None:
    async with running(make_app(tmp_path)) as harness:
        outcomes = await asyncio.gather(
            *(harness.runner.accept("charge", {"order": 1}, key="once") for _ in range(20))
        )
        assert sum(not outcome.replayed for outcome in outcomes) == 1
        assert len({outcome.record.id for outcome in outcomes}) == 1
        await harness.wait_all()
        (only,) = await harness.runner.store.query()
        assert only.state is State.SUCCEEDED


async def test_two_processes_sharing_a_file_start_one_task_per_key(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    other = SQLiteStore(path)
    await other.open()
    try:
        apps = [make_app(tmp_path), make_app(tmp_path)]
        async with running(apps[0]) as one, running(apps[1]) as two:
            outcomes = await asyncio.gather(
                *(
                    harness.runner.accept("charge", {"order": 3}, key="shared")
                    for harness in (one, two)
                    for _ in range(10)
                )
            )
            assert sum(not outcome.replayed for outcome in outcomes) == 1
            await one.wait_all()
            await two.wait_all()
        assert len(await other.query()) == 1
    finally:
        await other.close()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("x" * (MAX_KEY_LENGTH + 1), f"at most {MAX_KEY_LENGTH} characters"),
        (" padded", "printable ASCII"),
        ("tab\there", "printable ASCII"),
        ("é", "printable ASCII"),
    ],
)
async def test_a_bad_key_is_refused(tmp_path: Path, key: str, message: str) -> None:
    async with running(make_app(tmp_path)) as harness:
        with pytest.raises(InvalidOptions, match=message):
            await charge.options(key=key).submit(order=1)
        assert await harness.runner.store.query() == []

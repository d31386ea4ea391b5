"""A PostgreSQL store cut off by a frozen network (connections stay open, no byte passes):
every request still answers within seconds, ``/healthz`` says the store fails, a submission
whose answer was lost says that it may have been stored, and once the network is back every
accepted task ends once, a retry with the same ``Idempotency-Key`` adding none."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tasks import State, StoreUnavailable
from tasks.records import TaskRecord
from tasks.store.postgres import PostgresStore
from tests import loopback
from tests.outage import Relay
from tests.servers import Server, running_server

pytestmark = [pytest.mark.server, pytest.mark.timeout(180)]

#: the longest any request may take while the network is frozen (about 5 s on an idle
#: machine: an operation waits 1.5 s, then the server has 2.5 s to answer a check)
ANSWER_WITHIN = 8.0
#: the longest ``/healthz`` may take meanwhile (it waits 1 s for a count, then leaves)
HEALTH_WITHIN = 4.0
#: how long every accepted task may take to end once the network is back
SETTLE_WITHIN = 90.0
MAYBE_STORED = "may have been stored"
TASKS = [("count", {"n": 3, "interval": 0.05}), ("sleep", {"seconds": 0.1})]


@contextmanager
def relayed(postgres_url: str) -> Iterator[tuple[Relay, str]]:
    """A relay in front of the test's database, up, and the database's URL through it."""
    target = urlsplit(postgres_url)
    with Relay(target.hostname or "127.0.0.1", target.port or 5432) as relay:
        relay.up()
        netloc = f"{target.username}@127.0.0.1:{relay.port}"
        yield relay, target._replace(netloc=netloc).geturl()


def within(seconds: float, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    started = time.monotonic()
    response = call()
    took = time.monotonic() - started
    assert took < seconds, f"{what} took {took:.1f} s: {response.text}"
    return response


# -- the store on its own: each step is deterministic ------------------------------------


@asynccontextmanager
async def store_behind(relay_url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(relay_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def until_answered(store: PostgresStore, task_id: str) -> TaskRecord | None:
    """Read ``task_id`` once the store answers again (polled: it is found out by a ping)."""
    async with asyncio.timeout(30):
        while True:
            try:
                return await store.get(task_id)
            except StoreUnavailable:
                await asyncio.sleep(0.1)


async def test_a_frozen_store_refuses_within_seconds_and_recovers(postgres_url: str) -> None:
    with relayed(postgres_url) as (relay, url):
        async with store_behind(url) as store:
            before = TaskRecord.new("count", {"n": 1})
            await store.create(before, owner=None, lease=30)

            relay.freeze()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="retry shortly"):
                await store.get(before.id)
            assert time.monotonic() - started < ANSWER_WITHIN
            started = time.monotonic()  # now known to be unreachable: refused at once
            with pytest.raises(StoreUnavailable, match="does not answer"):
                await store.create(TaskRecord.new("count", {"n": 2}), owner=None, lease=30)
            assert time.monotonic() - started < 2.0

            relay.thaw()
            assert await until_answered(store, before.id) == before
            assert await store.count(State.QUEUED) == 1  # the refused insert: not stored


async def test_a_caller_that_gives_up_leaves_at_once(postgres_url: str) -> None:
    with relayed(postgres_url) as (relay, url):
        async with store_behind(url) as store:
            relay.freeze()
            started = time.monotonic()
            with pytest.raises(TimeoutError):  # as /healthz gives up on its count
                async with asyncio.timeout(0.5):
                    await store.count_by_name(State.QUEUED)
            assert time.monotonic() - started < 3.0  # psycopg's cancel would wait 10 s more
            relay.thaw()


async def test_an_insert_whose_answer_is_lost_may_have_been_stored(postgres_url: str) -> None:
    with relayed(postgres_url) as (relay, url):
        async with store_behind(url) as store:
            await store.create(TaskRecord.new("count", {"n": 0}), owner=None, lease=30)
            keyed = TaskRecord.new("count", {"n": 1}).replace(idempotency_key="key-1")

            relay.mute()  # the server hears the insert and commits it; the answer is lost
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=MAYBE_STORED) as lost:
                await store.create(keyed, owner=None, lease=30)
            assert time.monotonic() - started < ANSWER_WITHIN
            assert "the same Idempotency-Key header" in lost.value.message

            relay.thaw()
            assert await until_answered(store, keyed.id) == keyed  # it was stored
            unkeyed = TaskRecord.new("count", {"n": 2})
            relay.mute()
            with pytest.raises(StoreUnavailable, match=MAYBE_STORED) as lost:
                await store.create(unkeyed, owner=None, lease=30)
            assert "a retry may start it twice" in lost.value.message
            relay.thaw()
            assert await until_answered(store, unkeyed.id) == unkeyed


# -- a real server under load -------------------------------------------------------------


def submit(server: Server, number: int) -> tuple[str, httpx.Response]:
    """Submit task ``number`` with an idempotency key of its own; the key and the answer."""
    name, body = TASKS[number % len(TASKS)]
    key = f"freeze-{number}"
    response = within(
        ANSWER_WITHIN,
        f"submission {number}",
        lambda: loopback.post(
            f"{server.url}/tasks/{name}",
            json=body,
            headers={"Idempotency-Key": key},
            timeout=ANSWER_WITHIN + 10,
        ),
    )
    assert response.status_code in {200, 202, 503}, response.text  # 200: a replay
    if response.status_code == 503:
        assert response.headers["retry-after"]
        assert response.json()["error"]["code"] == "store_unavailable"
    return key, response


def burst(server: Server, numbers: range) -> list[tuple[str, httpx.Response]]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda n: submit(server, n), numbers))


def health(server: Server) -> httpx.Response:
    url = f"{server.url}/healthz"
    return within(HEALTH_WITHIN, "/healthz", lambda: loopback.get(url, timeout=30))


def until(check: Callable[[], bool], what: str, within_s: float = 30.0) -> None:
    """Poll a condition on another process (there is no event to wait on across it)."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stored_keys(server: Server) -> list[str]:
    response = loopback.get(f"{server.url}/tasks?limit=1000", timeout=30)
    assert response.status_code == 200, response.text
    return [record["idempotency_key"] for record in response.json()["tasks"]]


@pytest.mark.parametrize("cut", ["freeze", "mute"])
def test_every_request_answers_and_every_task_ends_once_across_a_frozen_network(
    tmp_path: Path, postgres_url: str, cut: str
) -> None:
    with relayed(postgres_url) as (relay, url):
        env = {"QUART_TASKS_DATABASE": url, "QUART_TASKS_POLL_INTERVAL": "0.2"}
        with running_server(tmp_path, env) as server:
            answers = burst(server, range(16))
            assert [response.status_code for _, response in answers] == [202] * 16

            getattr(relay, cut)()  # mid-load: tasks are running and waiting
            answers += burst(server, range(100, 112))
            until(lambda: health(server).status_code == 503, "health to say the store fails")
            assert health(server).json()["status"] == "store_failing"
            answers += burst(server, range(200, 204))  # refused at once by now
            assert all(response.status_code == 503 for _, response in answers[-4:])

            relay.thaw()
            until(lambda: health(server).status_code == 200, "the store to answer again")
            refused = {key for key, response in answers if response.status_code == 503}
            lost = {key for key, r in answers if MAYBE_STORED in r.text}
            assert not (refused - lost) & set(stored_keys(server))  # "not stored" held true

            assert {response.status_code for _, response in answers} <= {202, 503}
            ids = {key: r.json()["id"] for key, r in answers if r.status_code == 202}
            for key in sorted(refused):  # retried as told, with the same key
                retried = _retried(server, int(key.removeprefix("freeze-")))
                assert retried.status_code in {200, 202}, retried.text
                ids[key] = retried.json()["id"]

            deadline = time.monotonic() + SETTLE_WITHIN
            for task_id in ids.values():
                record = _ended(server, task_id, deadline)
                assert (record["state"], record["attempts"]) == ("succeeded", 1), record
            keys = stored_keys(server)
            assert sorted(keys) == sorted(ids), "a key started more than one task"
            assert "Traceback" not in server.log()


def _retried(server: Server, number: int) -> httpx.Response:
    """Submit ``number`` again with its key until the store takes it (bounded)."""
    deadline = time.monotonic() + 30
    while True:
        _, response = submit(server, number)
        if response.status_code != 503:
            return response
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)


def _ended(server: Server, task_id: str, deadline: float) -> dict[str, object]:
    while True:
        response = loopback.get(f"{server.url}/tasks/{task_id}", timeout=30)
        assert response.status_code == 200, response.text
        record: dict[str, object] = response.json()
        if record["state"] in {"succeeded", "failed", "cancelled"}:
            return record
        assert time.monotonic() < deadline, f"task {task_id} never ended: {record}"
        time.sleep(0.1)

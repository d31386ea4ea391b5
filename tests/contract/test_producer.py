"""The synchronous producer on each durable store: it checks, stores unheld and never runs;
a runner sharing the store runs what it stored; keys, delays and eight threads at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tasks import (
    IdempotencyConflict,
    InvalidArguments,
    Producer,
    Registry,
    State,
    TaskNotFound,
    TaskRecord,
)
from tests.harness import WAIT, run_until_ended

registry = Registry()


@registry.task(retries=1)
def send_report(user_id: int, fmt: str = "pdf") -> str:
    return f"report {user_id}.{fmt}"


@pytest.fixture
def producer(database_url: str) -> Iterator[Producer]:
    made = Producer(registry, database=database_url)
    yield made
    made.close()


def run_them(database_url: str, records: list[TaskRecord]) -> list[TaskRecord]:
    return run_until_ended(registry, database_url, records)


def test_a_submission_is_stored_for_a_worker_and_run_there(
    producer: Producer, database_url: str
) -> None:
    record = producer.submit(send_report, user_id=7)
    assert (record.state, record.owner, record.attempts) == (State.QUEUED, None, 0)
    assert producer.get(record.id) == record  # stored, and nothing ran it
    (done,) = run_them(database_url, [record])
    assert (done.state, done.result) == (State.SUCCEEDED, "report 7.pdf")
    assert producer.get(record.id).state is State.SUCCEEDED


def test_bad_arguments_raise_before_anything_is_stored(producer: Producer) -> None:
    first = producer.submit(send_report, 1)  # positional, as the function takes it
    with pytest.raises(InvalidArguments, match="user_id"):
        producer.submit(send_report, user_id="seven")  # type: ignore[arg-type]
    with pytest.raises(InvalidArguments, match="colour"):
        producer.submit(send_report, 7, colour="red")  # type: ignore[call-arg]
    with pytest.raises(TaskNotFound):
        producer.get("no-such-task")
    newest = producer.submit(send_report, 2)
    assert first.id != newest.id


def test_options_keys_and_delays(producer: Producer) -> None:
    later = producer.submit(send_report.options(delay=3600), user_id=7)
    assert later.state is State.SCHEDULED
    assert later.run_at is not None
    keyed = send_report.options(key="report-7-2030")
    first = producer.submit(keyed, user_id=7)
    again = producer.submit(keyed, user_id=7)
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        producer.submit(keyed, user_id=8)
    assert producer.submit(send_report.options(retries=0), user_id=7).max_attempts == 1


def test_eight_threads_at_once_lose_nothing(producer: Producer, database_url: str) -> None:
    made: list[TaskRecord] = []
    lock = threading.Lock()

    def submit_many(thread: int) -> None:
        for n in range(25):
            record = producer.submit(send_report, user_id=thread * 100 + n)
            with lock:
                made.append(record)

    threads = [threading.Thread(target=submit_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len({record.id for record in made}) == 200
    done = run_them(database_url, made)
    assert {record.state for record in done} == {State.SUCCEEDED}
    assert sorted(record.result for record in done) == sorted(
        f"report {record.kwargs['user_id']}.pdf" for record in made
    )


def test_a_store_it_cannot_use_is_refused_when_it_is_made() -> None:
    with pytest.raises(ValueError, match="ftp"):
        Producer(registry, database="ftp://example.com/tasks")


def test_a_closed_producer_starts_again(producer: Producer) -> None:
    record = producer.submit(send_report, user_id=1)
    producer.close()
    assert producer.get(record.id).id == record.id

"""SIGTERM in the worker processes of a multi-process server: drain, and stop the server once."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tasks.app.supervisor import SigtermForwarder, _server_shutdown_event
from tests import loopback
from tests.servers import connection_to_each_worker, running_server

FORWARDED = "shutting the server down gracefully"


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])


class Event:
    def __init__(self, value: bool = False) -> None:
        self.value = value

    def is_set(self) -> bool:
        return self.value


def test_a_sigterm_is_passed_on_to_the_parent_once() -> None:
    sent: list[tuple[int, int]] = []
    forwarder = SigtermForwarder(4321, Event(), kill=lambda pid, sig: sent.append((pid, sig)))
    assert forwarder.forward()
    assert not forwarder.forward()
    assert sent == [(4321, signal.SIGTERM)]


def test_nothing_is_passed_on_while_the_server_is_stopping() -> None:
    sent: list[tuple[int, int]] = []
    stopping = Event(True)
    forwarder = SigtermForwarder(4321, stopping, kill=lambda pid, sig: sent.append((pid, sig)))
    assert forwarder.server_stopping
    assert not forwarder.forward()
    assert sent == []


def test_a_parent_that_is_gone_is_noticed() -> None:
    forwarder = SigtermForwarder(4321, Event(), parent_alive=lambda: False)
    assert forwarder.parent_gone()


def report_event(queue: Any, shutdown_event: Any) -> None:
    found = _server_shutdown_event()
    queue.put(found is not None and found.is_set() == shutdown_event.is_set())


def test_a_worker_finds_the_event_its_parent_handed_it() -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    event = context.Event()
    event.set()
    process = context.Process(target=report_event, args=(queue,), kwargs={"shutdown_event": event})
    process.start()
    try:
        assert queue.get(timeout=30) is True
    finally:
        process.join(30)
    assert process.exitcode == 0


def test_outside_a_worker_there_is_no_event() -> None:
    assert _server_shutdown_event() is None


@pytest.mark.server
def test_sigterm_to_one_worker_stops_the_whole_server_after_its_drain(tmp_path: Path) -> None:
    with running_server(tmp_path, workers=2) as server:
        clients = connection_to_each_worker(server, 2)
        owner, client = next(iter(clients.items()))
        try:
            created = client.post("/tasks/sleep", json={"seconds": 1}).json()
            assert created["owner"] == owner
        finally:
            for each in clients.values():
                each.close()
        os.kill(pid_of(owner), signal.SIGTERM)
        assert server.wait(40) == 0
        log = server.log()
    assert log.count(FORWARDED) == 1, log
    with running_server(tmp_path) as again:
        record = loopback.get(f"{again.url}/tasks/{created['id']}").json()
    assert (record["state"], record["attempts"]) == ("succeeded", 1)


@pytest.mark.server
@pytest.mark.parametrize("stop", ["SIGTERM to the server", "kill -9 of a worker"])
def test_workers_pass_nothing_on_to_a_server_that_is_stopping(tmp_path: Path, stop: str) -> None:
    with running_server(tmp_path, workers=2) as server:
        clients = connection_to_each_worker(server, 2)
        for client in clients.values():
            client.close()
        if stop == "SIGTERM to the server":
            server.signal(signal.SIGTERM)
            assert server.wait(40) == 0
        else:
            os.kill(pid_of(next(iter(clients))), signal.SIGKILL)
            server.wait(40)  # Hypercorn's parent stops the other worker, and then itself
        log = server.log()
    assert FORWARDED not in log, log

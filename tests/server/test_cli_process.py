"""The real ``quart tasks`` command in a child process: what CliRunner cannot show, Ctrl-C and
a terminal."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

from tasks import SQLiteStore, State, TaskRecord
from tests.quart_command import quart_command, read_until


async def read_record(path: Path, task_id: str) -> TaskRecord | None:
    store = SQLiteStore(path)
    await store.open()
    try:
        return await store.get(task_id)
    finally:
        await store.close()


def test_ctrl_c_cancels_the_task_the_command_runs(tmp_path: Path) -> None:
    database = tmp_path / "tasks.sqlite3"
    with quart_command(
        *("tasks", "run", "sleep", "seconds=30", "--wait"),
        env={"QUART_TASKS_DATABASE": str(database)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as command:
        assert command.stderr is not None
        lines = read_until(command.stderr, "running")  # plain lines: one per state
        task_id = lines[0].removeprefix("started sleep: ").strip()

        command.send_signal(signal.SIGINT)
        _, rest = command.communicate(timeout=20)

    assert command.returncode == 130
    assert rest.splitlines()[-1] == (
        f"interrupted: task {task_id} cancelled as this command was interrupted"
    )
    assert "Traceback" not in rest
    record = asyncio.run(read_record(database, task_id))
    assert record is not None
    assert record.state is State.CANCELLED


def read_terminal(leader: int, process: subprocess.Popen[bytes]) -> bytes:
    """Everything written to the pseudo-terminal until the command closes it (30 s at most)."""
    received = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # Linux: the terminal closed when the command exited
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(leader)
    return received


def test_a_terminal_gets_a_moving_bar_and_stdout_the_result(tmp_path: Path) -> None:
    """The real ``quart`` command, its stderr on a pseudo-terminal and stdout on a pipe."""
    leader, follower = pty.openpty()
    with quart_command(
        *("tasks", "run", "count", "n=6", "interval=0.05", "--wait"),
        env={"QUART_TASKS_DATABASE": str(tmp_path / "tasks.sqlite3")},
        stdout=subprocess.PIPE,
        stderr=follower,
    ) as process:
        os.close(follower)
        terminal = read_terminal(leader, process)
        stdout, _ = process.communicate(timeout=10)

    assert process.returncode == 0, terminal.decode(errors="replace")
    assert stdout == b"6\n"
    frames = terminal.decode().split("\r")
    bars = [frame for frame in frames if "[" in frame and "/6" in frame]
    assert len({frame.count("#") for frame in bars}) >= 2  # the bar moved
    assert any("6/6 100% succeeded" in frame for frame in bars)

"""The real ``quart`` command line in a child process, for what CliRunner cannot show."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from subprocess import Popen
from typing import IO, Any

from tests.servers import APP, ROOT


@contextmanager
def quart_command(*args: str, env: Mapping[str, str], **options: Any) -> Iterator[Popen[Any]]:
    """Run ``quart --app "quart_app:create_app()" ARGS``; killed on exit if still running."""
    environment = {key: value for key, value in os.environ.items() if key != "QUART_TASKS_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "quart", "--app", APP, *args],
        cwd=ROOT,
        env={**environment, **env},
        stdin=subprocess.DEVNULL,
        **options,
    )
    with process:  # closes its pipes
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def read_until(stream: IO[str], text: str) -> list[str]:
    """Read lines up to and including the first one containing ``text``; fail at EOF."""
    lines: list[str] = []
    while True:
        line = stream.readline()
        if not line:
            raise AssertionError(f"the command ended before printing {text!r}: {lines}")
        lines.append(line)
        if text in line:
            return lines

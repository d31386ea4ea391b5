"""Run ``N`` noop tasks in this process, then print /metrics (for tests/server/test_metrics.py)."""

from __future__ import annotations

import asyncio
import sys

from quart_app import create_app
from tasks.testing import running


async def main(count: int) -> None:
    app = create_app({"TASKS_DATABASE": ":memory:", "LOG_LEVEL": "WARNING"})
    async with running(app) as harness:
        for _ in range(count):
            assert (await harness.client.post("/tasks/noop")).status_code == 202
        await harness.wait_all()
        response = await harness.client.get("/metrics")
        sys.stdout.write(await response.get_data(as_text=True))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

"""The example workflows: a durable order with steps and child tasks, and a fan-out.

``fulfil`` is the workflow of the docs: charge the card, render the invoice, email it
(one child task per recipient), notify the warehouse. Each charge appends a line to
``charges.log`` in the exports folder, so that a crash mid-order shows the card was charged
once. ``pause`` makes the invoice step take that long, to leave time to kill the process.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Any

from pydantic import Field

from tasks import current_task

from .jobs import Seconds, exports_folder, registry

__all__ = ["registry"]

Count = Annotated[int, Field(ge=0, le=1000)]


def charge_card(order_id: int) -> dict[str, Any]:
    """Charge the order's card: here, a line in ``charges.log``."""
    folder = exports_folder()
    folder.mkdir(parents=True, exist_ok=True)
    charge = {"order_id": order_id, "cents": 1250 + order_id, "at": time.time()}
    with (folder / "charges.log").open("a") as ledger:
        ledger.write(json.dumps(charge) + "\n")
    return charge


def render_invoice(order_id: int, pause: float) -> str:
    """Render the invoice (blocking, so it runs in a thread), ``pause`` seconds long."""
    time.sleep(pause)
    return f"INV-{order_id:06d}"


def notify_warehouse(order_id: int) -> str:
    return f"order {order_id} ready to ship"


@registry.task(queue="email", concurrency=4, rate_limit="10/s")
async def send_email(to: str, invoice: str) -> dict[str, str]:
    """Send ``invoice`` to ``to`` (pretend: a short wait); in the ``email`` queue, at most
    four at once and ten a second."""
    await asyncio.sleep(0.01)
    return {"to": to, "invoice": invoice}


@registry.task(durable=True, retries=3)
async def fulfil(order_id: int, recipients: Count = 2, pause: Seconds = 0) -> dict[str, Any]:
    """Fulfil an order: charge, invoice, email each recipient, notify; survives a crash."""
    task = current_task()
    charge = await task.step("charge", charge_card, order_id)
    invoice = await task.step("invoice", render_invoice, order_id, pause)
    mails = [
        await send_email.submit(to=f"customer-{n}@example.com", invoice=invoice)
        for n in range(recipients)
    ]
    sent = await task.wait_all(mails)
    await task.step("notify", notify_warehouse, order_id)
    return {"charge": charge, "invoice": invoice, "sent": len(sent)}


@registry.task()
async def square(n: int, seconds: Seconds = 0, fail: bool = False) -> int:
    """Return ``n * n`` after ``seconds``; raise instead if ``fail``."""
    await asyncio.sleep(seconds)
    if fail:
        raise ValueError(f"square {n} was asked to fail")
    return n * n


@registry.task(durable=True)
async def sum_squares(count: Count = 10, seconds: Seconds = 0, fail_at: int = -1) -> int:
    """Fan out ``count`` ``square`` children and sum their results (fan-in); the child
    numbered ``fail_at`` fails, to show a failed child failing its parent."""
    children = [await square.submit(n=n, seconds=seconds, fail=n == fail_at) for n in range(count)]
    results: list[int] = await current_task().wait_all(children)
    return sum(results)

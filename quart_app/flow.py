"""The example's limited tasks, one per kind of limit (see the flow-control how-to).

``render_pdf`` stands for a renderer that must not run more than two at once across every
server; ``notify`` for a provider that takes five calls a second; ``tenant_export`` for work
of which each customer may have one running at a time, whatever the others do.
"""

from __future__ import annotations

import asyncio
import time

from .jobs import Seconds
from .workflows import registry

__all__ = ["registry"]


@registry.task(concurrency=2)
def render_pdf(pages: int = 1, seconds: Seconds = 0.5) -> str:
    """Render a PDF (blocking, ``seconds`` long); at most two at once, in every process."""
    time.sleep(seconds)
    return f"{pages} page(s) rendered"


@registry.task(rate_limit="5/s")
async def notify(to: str) -> str:
    """Send a notification to ``to``; at most five start in any one second."""
    return f"notified {to}"


@registry.task(concurrency=1, concurrency_key="tenant")
async def tenant_export(tenant: str, seconds: Seconds = 0.5) -> str:
    """Export a tenant's data (``seconds`` long); one per tenant at a time."""
    await asyncio.sleep(seconds)
    return f"exported {tenant}"

"""A TCP relay that can cut a server off: database outages on demand, for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType


class Relay:
    """Relays ``127.0.0.1:port`` to ``host:port`` while up; while down, it closes every
    connection it has and each new one at once, as a database that went away would.

    :meth:`freeze` cuts it off as a network would instead: connections stay open (new ones
    too) but no byte passes until :meth:`thaw`, which delivers what was held. :meth:`mute`
    lets requests through but holds the answers: the server acts on what it hears, and the
    client never learns of it (a commit whose answer is lost).
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._up = False
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._requests = asyncio.Event()  # set while bytes to the server pass
        self._answers = asyncio.Event()  # set while bytes from the server pass

    def __enter__(self) -> Relay:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._flow(requests=True, answers=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.down()
        self.thaw()  # pumps holding bytes find their connections closed, and end
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def up(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_up", True)

    def down(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    def freeze(self) -> None:
        """Hold every byte, both ways, on open connections and new ones."""
        self._flow(requests=False, answers=False)

    def mute(self) -> None:
        """Pass requests to the server; hold its answers."""
        self._flow(requests=True, answers=False)

    def thaw(self) -> None:
        """Pass every byte again, those held first."""
        self._flow(requests=True, answers=True)

    def _flow(self, *, requests: bool, answers: bool) -> None:
        async def change() -> None:
            for event, passes in ((self._requests, requests), (self._answers, answers)):
                event.set() if passes else event.clear()

        asyncio.run_coroutine_threadsafe(change(), self._loop).result(10)

    async def _cut(self) -> None:
        self._up = False
        for writer in list(self._writers):
            writer.close()

    async def _serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.close()
            return
        try:
            far_reader, far_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, far_writer}
        try:
            await asyncio.gather(
                _pump(reader, far_writer, self._requests), _pump(far_reader, writer, self._answers)
            )
        finally:
            self._writers -= {writer, far_writer}
            writer.close()
            far_writer.close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, passing: asyncio.Event
) -> None:
    """Copy ``reader`` to ``writer`` while ``passing`` is set; what is read meanwhile is held,
    and nothing more is read until it passes (the sender's buffers fill, as over a cut)."""
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            await passing.wait()
            writer.write(data)
            await writer.drain()
    writer.close()

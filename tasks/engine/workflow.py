"""Workflows: the steps of a running task, the tasks it submits (its children), and waiting.

Each attempt gets a :class:`RunWorkflow`, the runner's side of
:meth:`~tasks.TaskContext.step`, ``result`` and ``wait_all``:

- **Steps** live on the task's own record. A step's start goes out with the next progress
  write; its outcome is written (and committed) before the step returns, so a re-run finds
  every step that succeeded.
- **Children.** A submission made while the task runs is its child: the record names its
  ``parent``, and its idempotency key is the parent's id and the submission's position in
  the run (``<parent>/<n>``), unless the call gives a key of its own. The same submission in
  a re-run is thus a replay that returns the child already stored, through any process.
- **Waiting** for other tasks gives the running slot back (:class:`Parking`) until they
  have ended, so parents waiting for their children never hold every slot, then waits for a
  slot again, ahead of the tasks that wait to start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from .. import steps
from ..context import running_task
from ..errors import StoreUnavailable, TaskCancelled, TaskNotFound, WorkflowChanged
from ..options import SubmitOptions
from ..records import Step, TaskRecord
from ..store import ChangeNotifier, Store
from .execution import Execution

__all__ = ["Parking", "RunWorkflow", "Waits", "parent_here"]

#: seconds between two reads of the tasks a parent waits for, when no write announces them
POLL_INTERVAL = 0.5
#: fewest seconds between two reads of them, however often writes wake the parent
MIN_GAP = 0.02


class Parking(Protocol):
    """Where a waiting task gives its running slot back (the runner's slots)."""

    def park(self, task_id: str) -> None: ...

    def unpark(self, task_id: str) -> None: ...

    async def resume(self, task_id: str) -> None: ...


class Writes(Protocol):
    """How a workflow writes its task's record (the runner's writer)."""

    async def write(self, record: TaskRecord) -> bool: ...


class Announces(Protocol):
    """Who tells of each record this runner writes (the runner's writer)."""

    def subscribe(self, listener: Callable[[TaskRecord], None]) -> Callable[[], None]: ...


class Waits:
    """Waits until tasks have ended, whichever process runs them."""

    def __init__(
        self, store: Store, writes: Announces, *, poll_interval: float = POLL_INTERVAL
    ) -> None:
        self.store = store
        self.writes = writes
        self.poll_interval = poll_interval

    async def ended(self, task_ids: list[str]) -> list[TaskRecord]:
        """The final records of ``task_ids``, in order, once every one has ended.

        Woken by this runner's writes, and by any process's commits where the store
        announces them; else it reads again every ``poll_interval``. A store that fails is
        waited out, not raised: the tasks go on meanwhile.
        """
        pending = dict.fromkeys(task_ids)
        ended: dict[str, TaskRecord] = {}
        changed = asyncio.Event()

        def on_write(record: TaskRecord) -> None:
            if record.id in pending:
                changed.set()

        stops = [self.writes.subscribe(on_write)]
        if isinstance(self.store, ChangeNotifier):
            stops.append(self.store.watch_changes(changed.set))
        try:
            while pending:
                changed.clear()
                with contextlib.suppress(StoreUnavailable):
                    for task_id in list(pending):
                        record = await self.store.get(task_id)
                        if record is None:
                            raise TaskNotFound(f"no task has the id {task_id!r}")
                        if record.state.terminal:
                            ended[task_id] = record
                            del pending[task_id]
                if pending:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll_interval):
                            await changed.wait()
                    # every commit of every process may wake it: read at most so often
                    await asyncio.sleep(MIN_GAP)
        finally:
            for stop in stops:
                stop()
        return [ended[task_id] for task_id in task_ids]


class RunWorkflow:
    """The steps and children of one attempt, kept on its execution's record."""

    def __init__(
        self,
        execution: Execution,
        *,
        owner: str,
        writes: Writes,
        report: Callable[[Execution], None],
        parking: Parking,
        waits: Waits,
    ) -> None:
        self.execution = execution
        self.owner = owner
        self._writes = writes
        self._report = report
        self._parking = parking
        self._waits = waits
        self._used: set[str] = set()
        #: submissions this run has made so far: the next child's position
        self._submitted = 0

    @property
    def task_id(self) -> str:
        return self.execution.task_id

    async def begin_step(self, name: str, digest: str) -> Step | None:
        record = self.execution.latest()
        found, stored = steps.begin(record.steps, name, digest, self._used)
        if stored is None:
            self.execution.touch(record.replace(steps=found))
            self._report(self.execution)  # its start goes out with the next progress write
        return stored

    async def end_step(self, name: str, result: Any, error: BaseException | None) -> None:
        record = self.execution.latest()
        found, store_now = steps.end(record.steps, name, result, error)
        self.execution.record = record.replace(steps=found)
        if store_now and error is None and not await self._writes.write(self.execution.record):
            raise TaskCancelled(
                f"task {record.name} ({record.id}) is no longer held by this process; "
                "its run stops here"
            )

    async def wait(self, task_ids: list[str]) -> list[TaskRecord]:
        self._parking.park(self.task_id)
        try:
            records = await self._waits.ended(task_ids)
        except BaseException:
            self._parking.unpark(self.task_id)
            raise
        await self._parking.resume(self.task_id)
        return records

    def child_options(self, options: SubmitOptions) -> SubmitOptions:
        """The options of this run's next submission: keyed by its position in the run."""
        position, self._submitted = self._submitted, self._submitted + 1
        if options.key is not None:
            return options
        return SubmitOptions.of(options, key=f"{self.task_id}/{position}")

    def changed(self, key: str | None) -> WorkflowChanged | None:
        """The error for a child submission whose key (one of this run's positions) names a
        child of another task or other arguments: this run is not the one that stored it."""
        prefix = f"{self.task_id}/"
        if key is None or not key.startswith(prefix):
            return None
        return WorkflowChanged(
            f"submission {key.removeprefix(prefix)} of this run differs (another task, or "
            f"other arguments) from the child an earlier run stored there; a re-run must "
            "submit the same children in the same order"
        )

    def add_child(self, record: TaskRecord) -> None:
        """Note a stored child on this task's record; written with its next write."""
        latest = self.execution.latest()
        if record.parent != self.task_id or record.id in latest.children:
            return
        self.execution.touch(latest.replace(children=(*latest.children, record.id)))
        self._report(self.execution)


def parent_here(owner: str) -> RunWorkflow | None:
    """The workflow of the task whose attempt runs here (under ``owner``) now, if any: a
    submission made now is its child."""
    context = running_task()
    if context is None:
        return None
    workflow = context.workflow
    if isinstance(workflow, RunWorkflow) and workflow.owner == owner:
        return workflow
    return None

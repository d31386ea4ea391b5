"""Workflows in the in-memory store: which tasks each task's run submitted, so that a cancel
reaches a task's descendants and retention deletes a workflow as one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ..records import State, TaskRecord
from .protocol import FINISHED_STATES

__all__ = ["Families"]


class Families:
    """The children of each task (``parent`` of the records), in creation order."""

    def __init__(self) -> None:
        self._children: dict[str, dict[str, None]] = {}  # parent id -> its children's ids

    def add(self, record: TaskRecord) -> None:
        """Note a record just created."""
        if record.parent is not None:
            self._children.setdefault(record.parent, {})[record.id] = None

    def remove(self, record: TaskRecord) -> None:
        """Forget a record deleted (its children, if any are left, keep their parent's id)."""
        if record.parent is None or (siblings := self._children.get(record.parent)) is None:
            return
        siblings.pop(record.id, None)
        if not siblings:
            del self._children[record.parent]

    def descendants(self, task_id: str, records: Mapping[str, TaskRecord]) -> list[TaskRecord]:
        """The task's children, theirs, and so on, each after its parent."""
        found: list[TaskRecord] = []
        parents = [task_id]
        seen = {task_id}
        for parent in parents:  # grows as children are found
            for child in self._children.get(parent, ()):
                if child not in seen and (record := records.get(child)) is not None:
                    seen.add(child)
                    found.append(record)
                    parents.append(child)
        return found

    def old(
        self,
        records: Mapping[str, TaskRecord],
        order: list[str],
        *,
        states: frozenset[State],
        before: datetime,
        limit: int,
    ) -> list[list[TaskRecord]]:
        """Up to ``limit`` records in ``states`` that finished before ``before``, oldest first,
        each with its descendants after it: the workflows that retention may delete whole.

        ``order`` is the ids of ``records``, oldest write first; the last, the latest write,
        is never deleted (its seq is where the numbering goes on).
        """
        states = states & FINISHED_STATES
        latest = order[-1] if order else None
        found: list[list[TaskRecord]] = []
        for task_id in order[:-1]:
            if len(found) >= limit:
                break
            record = records[task_id]
            if record.state not in states or record.finished_at is None:
                continue
            if record.parent is not None and record.parent in records:
                continue  # it goes with its parent
            if record.finished_at >= before:
                break  # later writes finished later
            family = [record, *self.descendants(task_id, records)]
            if all(member.state.terminal and member.id != latest for member in family):
                found.append(family)  # else a descendant may still run: wait for it
        return found

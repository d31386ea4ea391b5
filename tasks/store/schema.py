"""Schema versions of the durable stores: what a store file or database was written with.

Each durable store records the version of its tables. Opening one written by an older
version upgrades it in place, in one transaction, through the steps listed by the store;
opening one written by a newer version than this code knows is refused, since this code
could misread or damage it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import StoreSchemaError

__all__ = ["upgrade_steps"]


def upgrade_steps(
    found: int, steps: Mapping[int, Sequence[str]], *, store: str, where: str
) -> list[str]:
    """The statements that take a schema at version ``found`` to the newest in ``steps``.

    ``steps[n]`` upgrades version ``n - 1`` to ``n``. Raises :class:`StoreSchemaError` when
    ``found`` is newer than the newest known version.
    """
    current = max(steps)
    if found > current:
        raise StoreSchemaError(
            f"the {store} at {where} has schema version {found}, but this version of "
            f"quart-tracked-tasks knows versions up to {current}: upgrade quart-tracked-tasks, "
            f"or point TASKS_DATABASE at another store"
        )
    return [statement for version in range(found + 1, current + 1) for statement in steps[version]]

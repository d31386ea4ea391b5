"""The shape of the package: no import cycles in ``tasks``, which never imports ``quart_app``;
what sits above the runner reaches the store only through it.

Read from grimp's import graph, imports under ``if TYPE_CHECKING:`` and inside functions
included. ``lint-imports`` (``[tool.importlinter]`` in pyproject.toml) checks the layers.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp
import pytest

import tasks

#: optional packages, and the only modules that may import them (each lazily, when configured)
OPTIONAL = {
    "psycopg": ("tasks.store.postgres",),
    "psycopg_pool": ("tasks.store.postgres",),
    "taskiq": ("tasks.engine.broker", "tasks.engine.worker"),
    "taskiq_redis": ("tasks.engine.broker",),
    "taskiq_aio_pika": ("tasks.engine.broker",),
}


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tasks", "quart_app", include_external_packages=True)


def cycles(modules: set[str]) -> list[list[str]]:
    """The strongly connected groups of two or more modules among ``modules`` (Tarjan)."""
    imports = {
        module: sorted(graph().find_modules_directly_imported_by(module) & modules)
        for module in modules
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def tasks_modules() -> set[str]:
    return {module for module in graph().modules if module.split(".")[0] == "tasks"}


def test_no_module_of_tasks_takes_part_in_an_import_cycle() -> None:
    assert cycles(tasks_modules()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph().add_import(importer="tasks.records", imported="tasks.engine.runner")
    try:
        assert any("tasks.records" in group for group in cycles(tasks_modules()))
    finally:
        graph().remove_import(importer="tasks.records", imported="tasks.engine.runner")
    assert cycles(tasks_modules()) == []


def test_tasks_never_imports_the_example_app() -> None:
    assert not graph().chain_exists(importer="tasks", imported="quart_app", as_packages=True)


@pytest.mark.parametrize("package", sorted(OPTIONAL))
def test_an_optional_package_is_imported_in_one_place(package: str) -> None:
    importers = {
        module
        for module in graph().find_modules_that_directly_import(package)
        if module.startswith("tasks")
    }
    allowed = OPTIONAL[package]
    assert importers, f"nothing imports {package}"
    assert all(
        any(module == place or module.startswith(f"{place}.") for place in allowed)
        for module in importers
    ), importers


def test_the_broker_parts_load_only_through_the_chooser() -> None:
    """Nothing outside the engine imports the modules that import taskiq."""
    for module in ("tasks.engine.broker", "tasks.engine.worker"):
        importers = graph().find_modules_that_directly_import(module)
        assert importers <= {
            "tasks.engine.distributed",
            "tasks.engine.worker",
            "tasks.app.lifecycle",  # for types only
        }, importers


#: the parts that use the store itself; the others go through the runner (``Runner.records``
#: to read, its methods to write)
STORE_USERS = ("tasks.store", "tasks.engine", "tasks.app.extension")


def test_nothing_above_the_runner_reaches_past_it_to_the_store() -> None:
    """No ``runner.store``, ``active.store`` or ``feed.store`` outside the engine: an object
    reads only its own ``store`` (as the CLI's backend, which opens one without a runner)."""
    package = Path(tasks.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(("tasks", *path.relative_to(package).with_suffix("").parts))
        if any(module == part or module.startswith(f"{part}.") for part in STORE_USERS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "store":
                holder = ast.unparse(node.value)
                if holder not in {"self", "backend"}:
                    found.append(f"{module}:{node.lineno}: {holder}.store")
    assert found == []

"""The README and the documentation site: their code parses, their links lead somewhere.

The named examples run in other tests (``tests/readme_examples.py``); ``mkdocs build
--strict`` in CI checks the site's own links and references.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.readme_examples import ROOT, pages

METRICS_PAGE = ROOT / "docs/how-to/metrics.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_python_block_parses(page: Path) -> None:
    for number, block in enumerate(BLOCK.findall(page.read_text()), 1):
        try:
            ast.parse(block)
        except SyntaxError as exc:
            pytest.fail(f"{page.name}, Python block {number}: {exc}")


def test_the_readme_links_only_to_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert targets, "the README links into the documentation"
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert missing == []


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 220


def test_the_monitoring_examples_use_only_the_documented_metrics() -> None:
    rules = yaml.safe_load((ROOT / "docs/examples/prometheus-alerts.yml").read_text())
    alerts = {rule["alert"]: rule["expr"] for rule in rules["groups"][0]["rules"]}
    assert set(alerts) == {"TasksFailing", "TasksWaitLong", "TasksNothingFinishes"}
    dashboard = json.loads((ROOT / "docs/examples/grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    named = set(re.findall(r"\btasks_[a-z_]+", " ".join([*alerts.values(), *queries])))
    documented = set(re.findall(r"^\| `(tasks_[a-z_]+)", METRICS_PAGE.read_text(), re.M))
    assert len(named) >= 6
    series = {re.sub(r"_(bucket|count|sum)$", "", name) for name in named}  # of histograms
    assert series - documented == set()

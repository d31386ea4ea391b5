"""The dashboard page and /task-types, rendered through Quart's test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tasks import ErrorInfo, Progress, State, TaskRecord
from tasks.web.dashboard import format_seconds, outcome, percent, progress_text
from tests.conftest import AppFactory
from tests.harness import EXAMPLE_TASKS

ROOT = Path(__file__).resolve().parents[2]


async def test_the_page_lists_tasks_with_their_data_escaped(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        hostile = "<script>window.__xss=1</script>"
        await client.post("/tasks/fail", json={"message": hostile})
        await app.extensions["tasks"].runner.join()
        response = await client.get("/")
        page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert hostile not in page
    assert "RuntimeError: &lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert 'data-state="failed"' in page
    assert 'src="/static/dashboard.js"' in page


async def test_the_page_renders_the_start_form_from_the_registry(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        page = await (await test_app.test_client().get("/")).get_data(as_text=True)
    for name in ("count", "sleep", "fail", "export", "noop"):
        assert f'<option value="{name}">{name}</option>' in page
    assert 'id="arg-count-n" name="n" type="number" step="1"' in page
    assert 'id="arg-sleep-seconds" name="seconds" type="number" step="any"' in page
    assert 'id="arg-fail-message" name="message" type="text"' in page


async def test_filters_narrow_the_list(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        await client.post("/tasks/noop")
        await client.post("/tasks/fail")
        await app.extensions["tasks"].runner.join()
        failed = await (await client.get("/?state=failed")).get_data(as_text=True)
        noops = await (await client.get("/?name=noop&state=")).get_data(as_text=True)
        none = await (await client.get("/?name=count")).get_data(as_text=True)
    assert 'data-name="fail"' in failed
    assert 'data-name="noop"' not in failed
    assert '<option value="failed" selected>' in failed
    assert 'data-name="noop"' in noops
    assert 'data-name="fail"' not in noops
    assert "No tasks match these filters yet." in none


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=done", "state must be one of scheduled, queued, running"),
        ("name=nope", "name must be a registered task"),
        ("limit=5", "unknown query parameter 'limit'"),
    ],
)
async def test_bad_filters_get_json_errors(make_app: AppFactory, query: str, message: str) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        response = await test_app.test_client().get(f"/?{query}")
        body = await response.get_json()
    assert response.status_code == 400
    assert message in body["error"]["message"]


async def test_static_files_are_served(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        script = await client.get("/static/dashboard.js")
        style = await client.get("/static/dashboard.css")
    assert script.status_code == 200
    assert "EventSource" in await script.get_data(as_text=True)
    assert style.status_code == 200


async def test_task_types_describe_every_registered_task(make_app: AppFactory) -> None:
    app = make_app()
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/task-types")
        body = await response.get_json()
    by_name = {task["name"]: task for task in body["task_types"]}
    assert sorted(by_name) == EXAMPLE_TASKS
    assert by_name["fulfil"]["durable"] is True
    assert by_name["count"]["parameters"] == [
        {"name": "n", "type": "int", "required": True, "default": None},
        {"name": "interval", "type": "float", "required": False, "default": 0.1},
    ]
    assert by_name["count"]["description"].startswith("Count to n, one step")
    assert by_name["export"]["timeout"] == 600
    assert by_name["noop"]["parameters"] == []


def test_templates_and_static_files_are_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"web/templates/tasks/*", "web/static/*"' in pyproject
    assert (ROOT / "tasks/web/templates/tasks/dashboard.html").is_file()
    assert (ROOT / "tasks/web/static/dashboard.js").is_file()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.004, "0.00 s"), (3.456, "3.46 s"), (42.25, "42.2 s"), (125, "2 min 05 s"),
     (7384, "2 h 03 min"), (-1, "0.00 s")],
)  # fmt: skip
def test_durations_read_well(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_progress_and_outcome_texts() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    record = TaskRecord.new("count", {"n": 20}).replace(
        state=State.RUNNING, started_at=start, progress=Progress(7, 20)
    )
    assert percent(record) == 35
    assert progress_text(record) == "7 / 20 · 35 %"
    sleeping = record.replace(progress=Progress(1.5, None, "sleeping"))
    assert percent(sleeping) is None
    assert progress_text(sleeping) == "1.5 · sleeping"
    done = record.replace(
        state=State.SUCCEEDED, progress=None, result={"rows": 3}, finished_at=start + timedelta(1)
    )
    assert percent(done) == 100
    assert outcome(done) == '{"rows": 3}'
    failed = record.replace(state=State.FAILED, error=ErrorInfo("timeout", "took too long"))
    assert outcome(failed) == "timeout: took too long"

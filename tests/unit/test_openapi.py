"""``/openapi.json`` and ``/docs``: a valid OpenAPI 3.1 description of every route."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate
from quart import Quart
from werkzeug.routing import Rule

from tasks.testing import running
from tasks.web.security import CONTENT_SECURITY_POLICY
from tests.conftest import ServeFactory
from tests.harness import Served
from tests.unit.test_own_app import own_app

__all__ = ["own_app"]  # the fixture, used by name

METHODS = {"get", "post", "delete", "put", "patch"}


async def document(client: Any, path: str = "/openapi.json") -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200
    described: dict[str, Any] = await response.get_json()
    return described


async def test_the_description_is_valid_openapi_3_1(api: Served) -> None:
    described = await document(api.client)
    assert described["openapi"] == "3.1.0"
    validate(described)


async def test_every_route_of_the_blueprint_is_described(api: Served) -> None:
    described = await document(api.client)
    operations = {(method, path) for path, item in described["paths"].items() for method in item}
    for rule in api.app.url_map.iter_rules():
        if not rule.endpoint.startswith("tasks."):
            continue
        path = rule.rule.replace("<path:filename>", "{filename}")
        path = path.replace("<task_id>", "{task_id}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if rule.endpoint == "tasks.submit":  # one path per registered task
                for name in ("count", "export", "fail", "noop", "sleep"):
                    assert (method.lower(), path.replace("<name>", name)) in operations
            else:
                path = path.replace("<name>", "{name}")  # a queue's name
                assert (method.lower(), path) in operations, (method, path)


async def test_each_task_has_its_argument_model_as_the_body(api: Served) -> None:
    described = await document(api.client)
    post = described["paths"]["/tasks/count"]["post"]
    body = post["requestBody"]
    assert body["required"] is True  # n has no default
    reference = body["content"]["application/json"]["schema"]["$ref"]
    schema = described["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert schema["properties"]["n"]["type"] == "integer"
    assert schema["properties"]["n"]["minimum"] == 0
    assert schema["properties"]["interval"]["type"] == "number"
    assert schema["properties"]["interval"]["default"] == 0.1
    assert schema["required"] == ["n"]
    assert schema["additionalProperties"] is False
    assert described["paths"]["/tasks/noop"]["post"]["requestBody"]["required"] is False
    assert {"202", "400", "401", "403", "404", "413", "422", "503"} <= set(post["responses"])


async def test_every_operation_documents_the_guards_answers(api: Served) -> None:
    described = await document(api.client)
    error = {"$ref": "#/components/schemas/Error"}
    for item in described["paths"].values():
        for method, operation in item.items():
            assert method in METHODS
            for status in ("400", "401", "403"):
                content = operation["responses"][status]["content"]
                if status == "401" and "text/html" in content:
                    continue  # the dashboard's sign-in page
                assert content["application/json"]["schema"] == error
    record = described["components"]["schemas"]["TaskError"]
    assert record["properties"]["traceback"]["anyOf"] == [{"type": "string"}, {"type": "null"}]


async def test_real_answers_fit_the_record_schema(api: Served) -> None:
    from jsonschema import Draft202012Validator

    described = await document(api.client)
    task = await api.submit("fail", {"message": "x"})
    record = await api.finished(task["id"])
    schemas = described["components"]["schemas"]
    resolver_root = {"components": {"schemas": schemas}, **schemas["Task"]}
    Draft202012Validator(resolver_root).validate(record)


async def test_real_queue_answers_fit_their_schemas(api: Served) -> None:
    from jsonschema import Draft202012Validator

    described = await document(api.client)
    schemas = described["components"]["schemas"]
    paused = await api.client.post("/queues/default/pause")
    listing = await api.client.get("/queues")
    await api.client.post("/queues/default/resume")
    for response, model in ((paused, "Queue"), (listing, "QueueList")):
        assert response.status_code == 200
        root = {"components": {"schemas": schemas}, **schemas[model]}
        Draft202012Validator(root).validate(await response.get_json())
    unknown = await api.client.post("/queues/nope/pause")
    assert unknown.status_code == 404
    answers = described["paths"]["/queues/{name}/pause"]["post"]["responses"]
    assert {"200", "404", "503"} <= set(answers)
    root = {"components": {"schemas": schemas}, **schemas["Error"]}
    Draft202012Validator(root).validate(await unknown.get_json())


async def test_the_description_and_docs_follow_the_prefix(own_app: Quart) -> None:
    async with running(own_app) as harness:
        described = await document(harness.client, "/jobs/openapi.json")
        validate(described)
        assert set(described["paths"]) >= {"/jobs/tasks", "/jobs/tasks/send_report", "/jobs/"}
        assert all(path.startswith("/jobs/") for path in described["paths"])
        page = await harness.client.get("/jobs/docs")
        assert page.status_code == 200
        assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        html = await page.get_data(as_text=True)
        assert 'href="/jobs/static/docs.css"' in html
        assert 'href="/jobs/openapi.json"' in html
        assert "/jobs/tasks/send_report" in html
        assert "<script" not in html


async def test_sign_in_and_out_are_described_where_the_app_serves_them(serve: ServeFactory) -> None:
    async with serve(TASKS_DATABASE=":memory:") as api:
        for endpoint, rule in (("tasks.sign_in", "/sign-in"), ("tasks.sign_out", "/sign-out")):
            api.app.url_map.add(Rule(rule, endpoint=endpoint, methods=["POST"]))
        api.app.extensions.pop("tasks_openapi", None)  # built again with the new routes
        described = await document(api.client)
        validate(described)
        assert described["paths"]["/sign-in"]["post"]["responses"]["303"]
        assert "post" in described["paths"]["/sign-out"]
        docs = await api.client.get("/docs")
        assert "application/x-www-form-urlencoded" in await docs.get_data(as_text=True)

"""``GET /openapi.json``: an OpenAPI 3.1 description of the blueprint, from pydantic models.

Paths come from the app's URL map, so they carry the prefix the blueprint is mounted under.
``POST /tasks/<name>`` is described once per registered task, with that task's argument
model as the body's schema. The response shapes are the models in ``schemas.py``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic.json_schema import models_json_schema
from quart import Response, current_app, jsonify, request

from ..definition import TaskDefinition
from . import operations, page_operations, queue_operations, submit_operation
from .base import blueprint, extension
from .operations import Operation
from .schemas import MODELS
from .stats_schemas import STATS_MODELS

__all__ = ["describe", "openapi_document"]

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
_EXTENSION = "tasks_openapi"
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@blueprint.get("/openapi.json")
async def openapi() -> Response:
    return jsonify(openapi_document())


def openapi_document() -> dict[str, Any]:
    """The description for the current app (built once), with this request's server URL."""
    document: dict[str, Any] | None = current_app.extensions.get(_EXTENSION)
    if document is None:
        document = current_app.extensions[_EXTENSION] = describe()
    return {**document, "servers": [{"url": request.script_root or "/"}]}


def describe() -> dict[str, Any]:
    """Build the description of the blueprint as the current app mounts it."""
    definitions = list(extension().registry)
    _, shared = models_json_schema(
        [(model, "serialization") for model in (*MODELS, *STATS_MODELS)], ref_template=REF
    )
    schemas: dict[str, Any] = dict(shared.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    every = (
        submit_operation.TEMPLATE,
        *operations.API_OPERATIONS,
        *queue_operations.QUEUE_OPERATIONS,
        queue_operations.STATS_OPERATION,
        *page_operations.PAGE_OPERATIONS,
    )
    for operation in every:
        if _rule(operation.endpoint) is None:
            continue  # a route this blueprint does not serve in this app
        if operation.endpoint == "tasks.dashboard":
            operation = page_operations.dashboard([definition.name for definition in definitions])
        if operation.endpoint == "tasks.submit":
            for definition in definitions:
                path = _path(operation.endpoint).replace("{name}", definition.name)
                body = _arguments(definition, schemas)
                paths.setdefault(path, {})[operation.method] = _submit_for(definition, body)
            continue
        paths.setdefault(_path(operation.endpoint), {})[operation.method] = _render(operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Tracked tasks",
            "version": _version(),
            "description": (
                "Start registered tasks, follow their state and progress, cancel them and "
                "run them again. Every error is JSON: "
                '`{"error": {"code": ..., "message": ...}}`.'
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _rule(endpoint: str) -> str | None:
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint == endpoint:
            return rule.rule
    return None


def _path(endpoint: str) -> str:
    return _CONVERTER.sub(r"{\1}", _rule(endpoint) or "")


def _arguments(definition: TaskDefinition, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = definition.arguments.model_json_schema(ref_template=REF)
    schemas.update(schema.pop("$defs", {}))
    schema["title"] = f"{definition.name} arguments"
    name = f"arguments_{definition.name}"
    schemas[name] = schema
    return {"$ref": REF.format(model=name)}


def _submit_for(definition: TaskDefinition, body: dict[str, Any]) -> dict[str, Any]:
    described = definition.to_dict()
    runs = "on the event loop" if definition.is_async else "in a worker thread"
    text = f"{described['description'] or ''} Runs {runs}.".strip()
    required = any(field.is_required() for field in definition.arguments.model_fields.values())
    operation = submit_operation.submit(definition.name, text, body, required=required)
    return _render(operation)


def _render(operation: Operation) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": {str(status): answer for status, answer in operation.all_responses()},
    }
    if operation.description:
        rendered["description"] = operation.description
    parameters = [*operation.parameters]
    for name in _CONVERTER.findall(_rule(operation.endpoint) or ""):
        if name not in operation.fixed:
            parameters.insert(0, operations.path_parameter(name))
    if parameters:
        rendered["parameters"] = parameters
    if operation.body is not None:
        rendered["requestBody"] = operation.body
    return rendered


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quart-tracked-tasks")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "0.0.0"

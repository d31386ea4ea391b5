"""``GET /docs``: the OpenAPI description as a page, rendered here, with nothing from elsewhere.

No script runs on it, and it loads only its own stylesheet, so it works offline and under the
same Content-Security-Policy as the dashboard.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Response, render_template, url_for

from .base import blueprint
from .openapi import openapi_document
from .security import PAGE_HEADERS

__all__: list[str] = []

METHODS = ("get", "post", "delete")


@blueprint.get("/docs")
async def docs() -> Response:
    document = openapi_document()
    operations = [
        {"path": path, "method": method, **operation}
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    page = await render_template(
        "tasks/docs.html",
        info=document["info"],
        operations=operations,
        schemas=document["components"]["schemas"],
        description_url=url_for("tasks.openapi"),
        dashboard_url=url_for("tasks.dashboard"),
    )
    return Response(page, headers=PAGE_HEADERS)


@blueprint.app_template_filter("tasks_schema_name")
def schema_name(reference: str) -> str:
    """``#/components/schemas/Task`` → ``Task``."""
    return reference.rsplit("/", 1)[-1]


@blueprint.app_template_filter("tasks_pretty_json")
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


@blueprint.app_template_filter("tasks_schema_brief")
def schema_brief(schema: dict[str, Any]) -> str:
    """A parameter's schema on one line: type and bounds."""
    if "$ref" in schema:
        return schema_name(schema["$ref"])
    parts = [str(schema.get("type", "any"))]
    if "enum" in schema:
        parts.append("one of " + ", ".join(repr(value) for value in schema["enum"]))
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤")):
        if key in schema:
            parts.append(f"{sign} {schema[key]}")
    if "default" in schema:
        parts.append(f"default {schema['default']}")
    return ", ".join(parts)

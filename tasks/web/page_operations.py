"""What the blueprint's pages take and answer, for the OpenAPI description."""

from __future__ import annotations

from .operations import HEADERS, STATE, Operation, error, query, text

__all__ = ["PAGE_OPERATIONS", "dashboard"]

_SIGN_IN_PAGE = text("text/html", "a token is required: the sign-in page")
_TO_DASHBOARD = {
    "description": "on to the dashboard",
    "headers": {"Location": {**HEADERS["Location"], "description": "the dashboard's URL"}},
}


def dashboard(names: list[str]) -> Operation:
    """``GET /``, whose name filter takes the registered task names."""
    return Operation(
        "tasks.dashboard",
        "get",
        "dashboard",
        "The dashboard",
        "pages",
        {200: text("text/html", "the newest tasks, kept live"), 401: _SIGN_IN_PAGE},
        parameters=(
            query("state", {"type": "string", "enum": ["", *STATE["enum"]]}, "in this state"),
            query("name", {"type": "string", "enum": ["", *names]}, "of this name"),
        ),
    )


PAGE_OPERATIONS: tuple[Operation, ...] = (
    dashboard([]),  # a template: the description lists the registered names
    Operation(
        "tasks.docs",
        "get",
        "docs",
        "The API's documentation page",
        "pages",
        {200: text("text/html", "this description, as a page")},
    ),
    Operation(
        "tasks.sign_in",
        "post",
        "sign_in",
        "Sign in to the dashboard with the API token",
        "pages",
        {303: _TO_DASHBOARD, 401: _SIGN_IN_PAGE},
        description="Sets the dashboard's session cookie when the token is right.",
        body={
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": {"token": {"type": "string"}}}
                }
            },
        },
    ),
    Operation(
        "tasks.sign_out",
        "post",
        "sign_out",
        "Sign out of the dashboard",
        "pages",
        {303: _TO_DASHBOARD},
    ),
    Operation(
        "tasks.static",
        "get",
        "static_file",
        "The pages' scripts and styles",
        "pages",
        {
            200: {"description": "the file", "content": {"*/*": {"schema": {}}}},
            404: error("no such file"),
        },
    ),
)

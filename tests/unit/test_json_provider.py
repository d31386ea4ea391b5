"""The orjson provider that ``Tasks(app)`` installs: the same JSON as Quart's default."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from quart import Quart, jsonify
from quart.json.provider import DefaultJSONProvider

from tasks import OrjsonProvider, Registry, Tasks


@dataclass
class Point:
    x: int
    y: int


VALUES = [
    {"b": 1, "a": [1.5, None, True, "é"]},
    {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "id": uuid.UUID(int=7)},
    Point(1, 2),
    {"big": 2**70},
    {1: "a key that is not a string"},
]


@pytest.fixture
def app() -> Quart:
    app = Quart(__name__)
    Tasks(app, registry=Registry())
    return app


def test_tasks_installs_it_unless_the_app_has_its_own_provider(app: Quart) -> None:
    assert isinstance(app.json, OrjsonProvider)

    class Own(DefaultJSONProvider):
        pass

    other = Quart(__name__)
    other.json = Own(other)
    Tasks(other, registry=Registry())
    assert type(other.json) is Own


@pytest.mark.parametrize("value", VALUES)
async def test_its_output_means_what_the_default_provider_s_means(
    app: Quart, value: object
) -> None:
    default = DefaultJSONProvider(app)
    assert json.loads(app.json.dumps(value)) == json.loads(default.dumps(value))
    async with app.app_context():
        body = await jsonify(value).get_data()
    assert json.loads(body) == json.loads(default.dumps(value))
    assert body.endswith(b"\n")


def test_it_reads_what_the_standard_parser_reads(app: Quart) -> None:
    assert app.json.loads(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert app.json.loads("[NaN]")[0] != 0  # orjson refuses NaN; the standard parser reads it
    with pytest.raises(json.JSONDecodeError):
        app.json.loads("{oops")

"""How the command line draws tasks: the bar on a terminal, plain lines elsewhere, tables."""

from __future__ import annotations

import io

import pytest

from tasks import ErrorInfo, Progress, State, TaskRecord
from tasks.cli.display import (
    ProgressDisplay,
    format_names,
    format_result,
    format_table,
    render_bar,
    render_line,
)

RECORD = TaskRecord.new("count", {"n": 20}).started()


def at(current: float, total: float | None = 20, message: str | None = None) -> TaskRecord:
    return RECORD.replace(progress=Progress(current, total, message))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- the bar -------------------------------------------------------------------------------


def test_the_bar_fills_with_the_progress() -> None:
    assert render_bar(at(0), 80).count("#") == 0
    half = render_bar(at(10), 80)
    bar = half[half.index("[") + 1 : half.index("]")]
    assert bar.count("#") == bar.count("-") > 0
    assert half.startswith(f"count {RECORD.id[:8]} [")
    assert half.endswith("] 10/20  50% running")
    full = render_bar(at(20), 80)
    assert "-" not in full[full.index("[") : full.index("]")]
    assert "100%" in full


@pytest.mark.parametrize("width", [20, 40, 80, 200])
def test_the_bar_never_wraps(width: int) -> None:
    line = render_bar(at(7, message="a long message " * 20), width)
    assert len(line) <= width - 1


def test_the_bar_is_bounded_on_wide_terminals() -> None:
    line = render_bar(at(5), 300)
    assert line.index("]") - line.index("[") - 1 == 40


def test_progress_beyond_the_total_stays_full() -> None:
    assert "100%" in render_bar(at(25), 80)


def test_without_a_total_there_are_counts_but_no_bar() -> None:
    line = render_bar(at(7, None, "rows"), 80)
    assert "[" not in line
    assert line.endswith(" 7 running rows")


def test_the_bar_shows_the_state_and_the_error() -> None:
    queued = TaskRecord.new("sleep", {"seconds": 1})
    assert render_bar(queued, 80) == f"sleep {queued.id[:8]} queued"
    failed = at(3).finished(State.FAILED, error=ErrorInfo("RuntimeError", "boom"))
    assert render_bar(failed, 120).endswith("3/20  15% failed RuntimeError: boom")
    assert render_bar(failed, 80).endswith("failed Runt")  # the message gives way, not the bar


# -- plain lines ---------------------------------------------------------------------------


def test_a_plain_line_per_update() -> None:
    assert render_line(at(7, message="step")) == f"{RECORD.id[:8]} count running 7/20 (35%) step"
    succeeded = at(20).finished(State.SUCCEEDED, result=20)
    assert render_line(succeeded) == f"{RECORD.id[:8]} count succeeded"
    retrying = RECORD.replace(state=State.QUEUED, error=ErrorInfo("OSError", "disk"))
    assert render_line(retrying).endswith("queued retrying after OSError: disk")


def test_off_a_terminal_progress_lines_are_spaced_out_but_states_are_not() -> None:
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(stream, tty=False, plain_interval=1.0, clock=clock)

    display.update(RECORD)  # first: always shown
    display.update(at(1))  # progress within the interval: held back
    clock.now = 1.5
    display.update(at(2))  # an interval later: shown
    display.update(at(2))  # nothing new: never repeated
    display.update(at(3).finished(State.SUCCEEDED, result=3))  # a new state: at once
    display.finish()

    lines = stream.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "running",
        "running 2/20 (10%)",
        "succeeded",
    ]
    assert "\r" not in stream.getvalue()


def test_on_a_terminal_one_line_is_redrawn_then_ended() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=True, width=60)

    for step in (1, 2, 3):
        display.update(at(step))
    display.finish()
    display.finish()  # idempotent

    output = stream.getvalue()
    assert output.count("\r") == 3
    assert output.count("\x1b[K") == 3
    assert output.endswith("3/20  15% running\x1b[K\n")
    assert output.count("\n") == 1


# -- results, tables, names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [(20, "20"), ("text", "text"), (None, "null"), ({"a": [1]}, '{"a": [1]}'), (True, "true")],
)
def test_results_print_as_text_or_json(value: object, shown: str) -> None:
    assert format_result(value) == shown


def test_the_table_aligns_its_columns() -> None:
    other = TaskRecord.new("sleep", {"seconds": 1})
    table = format_table([at(7), other]).splitlines()
    assert table[0].split() == ["ID", "NAME", "STATE", "PROGRESS", "CREATED"]
    assert table[1].index("count") == table[2].index("sleep") == table[0].index("NAME")
    assert table[2].split()[3] == "-"


def test_names_show_parameters_and_descriptions() -> None:
    names = [
        {
            "name": "greet",
            "description": "Say hello.",
            "parameters": [
                {"name": "who", "type": "str", "required": True, "default": None},
                {"name": "times", "type": "int", "required": False, "default": 1},
            ],
        },
        {"name": "noop", "description": None, "parameters": []},
    ]
    assert format_names(names).splitlines() == [
        "greet(who: str, times: int = 1)  Say hello.",
        "noop()",
    ]

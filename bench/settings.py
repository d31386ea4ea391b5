"""How big each benchmark is: the full run, and a seconds-long smoke run for CI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    smoke: bool
    #: part 1: task durations (s) for the async approaches, and for the Flask ones
    durations: tuple[float, ...]
    flask_durations: tuple[float, ...]
    #: part 1: requests per (approach, duration) when the response does not wait for the work
    fast_samples: int
    #: part 1: requests per (approach, duration) when it does (each one takes the duration)
    slow_samples: int
    #: part 1: seconds between sending a request and probing the same worker
    probe_after: float
    #: part 2: wrk load, and how many interleaved rounds of it (the median round is reported)
    wrk_seconds: int
    wrk_warmup_seconds: int
    wrk_rounds: int
    wrk_connections: int
    #: part 3: tracked tasks per measurement, raw asyncio tasks per measurement, repeats
    engine_tasks: int
    engine_raw_tasks: int
    engine_repeats: int
    #: part 4: blocking thread tasks and waiting coroutine tasks; seconds of measurement
    loop_threads: int
    loop_coroutines: int
    loop_seconds: float
    loop_http_interval: float
    #: part 5: waiting tasks held at once
    memory_tasks: int
    #: part 6: seconds of each wrk load
    pace_seconds: int
    #: the peers part: seconds of the sustained wrk load, tasks in a burst, and how long to
    #: wait at most for the accepted tasks to finish after either
    peers_seconds: int
    peers_burst: int
    peers_drain_seconds: float
    worker_classes: tuple[str, ...] = ("asyncio", "uvloop")


FULL = Settings(
    smoke=False,
    durations=(0.1, 1.0, 5.0, 10.0),
    flask_durations=(0.1, 1.0, 5.0),
    fast_samples=500,
    slow_samples=2,
    probe_after=0.01,
    wrk_seconds=5,
    wrk_warmup_seconds=2,
    wrk_rounds=3,
    wrk_connections=16,
    engine_tasks=10_000,
    engine_raw_tasks=100_000,
    engine_repeats=3,
    loop_threads=64,
    loop_coroutines=1000,
    loop_seconds=10.0,
    loop_http_interval=0.01,
    memory_tasks=100_000,
    pace_seconds=10,
    peers_seconds=10,
    peers_burst=5000,
    peers_drain_seconds=60.0,
)

SMOKE = Settings(
    smoke=True,
    durations=(0.05, 0.1),
    flask_durations=(0.05,),
    fast_samples=5,
    slow_samples=1,
    probe_after=0.01,
    wrk_seconds=1,
    wrk_warmup_seconds=0,
    wrk_rounds=1,
    wrk_connections=4,
    engine_tasks=300,
    engine_raw_tasks=1000,
    engine_repeats=1,
    loop_threads=4,
    loop_coroutines=20,
    loop_seconds=1.0,
    loop_http_interval=0.02,
    memory_tasks=2000,
    pace_seconds=1,
    peers_seconds=1,
    peers_burst=50,
    peers_drain_seconds=10.0,
    worker_classes=("uvloop",),
)

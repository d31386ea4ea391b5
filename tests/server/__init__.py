"""Child processes: real Hypercorn servers, the ``quart`` command, browsers, mypy and the
benchmark suite's smoke run."""

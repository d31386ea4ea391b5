"""The engine: what runs the tasks a :class:`~tasks.Runner` accepts, in parts that depend one way.

From the bottom up:

- :mod:`.execution` — one task while it holds a running slot, and how to stop it;
- :mod:`.writer` — writing the records this runner holds, and announcing every write;
- :mod:`.progress` — throttled progress writes;
- :mod:`.attempt` — one attempt of one task: timeouts, the call, its outcome, retries due;
- :mod:`.slots` — what holds and orders this process's tasks: the bounded waiting queue,
  the running slots, retries waiting out their backoff;
- :mod:`.cancellation` — stopping a task wherever it is;
- :mod:`.recovery` — the upkeep: lease renewal, remote cancels, claiming what nobody runs;
- :mod:`.dispatch` — where a stored submission goes: this process's slots, or a broker;
- :mod:`.broker` — handing task ids to a taskiq broker; :mod:`.worker` — a worker process
  receiving them (both import taskiq, from an optional extra);
- :mod:`.distributed` — broker mode chosen from the settings, importing the two above only
  when a broker is configured.

A part imports only parts above it in this list; :class:`tasks.engine.runner.Runner` puts them
together, and nothing here imports it.
"""

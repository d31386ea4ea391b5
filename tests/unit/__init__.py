"""The fast tier: one process, no services, no child processes (``pytest tests/unit``)."""

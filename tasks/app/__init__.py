"""The app layer: ``Tasks(app)`` and what it runs beside the engine in a Quart app's life —
settings, the JSON provider, retention, periodic ticks, metrics, the change feed, signals."""

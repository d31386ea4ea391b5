"""The applications the benchmarks serve: bare Quart, Flask, the product with a lag probe, and
the peers: Flask + RQ, Flask + Celery, Quart + taskiq."""

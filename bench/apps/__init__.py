"""The applications the benchmarks serve: bare Quart, Flask, and the product with a lag probe."""

"""Benchmarks of quart-tracked-tasks against what users would otherwise pick; see BENCHMARKS.md.

Run ``python -m bench`` from the repository root (``--smoke`` for a seconds-long check).
"""

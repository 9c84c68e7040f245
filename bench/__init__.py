"""Benchmarks of the task queue on the local stack (``make bench``)."""

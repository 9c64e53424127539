"""Benchmarks: the engine's cost measured against the database's own floor in the same run."""

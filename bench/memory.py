"""Resident memory while advancing many distinct cases: it must stay flat, not grow per case."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from bench.seed import add_staff, bulk_cases, new_engine


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(workdir: Path, count: int) -> dict[str, Any]:
    engine = new_engine(f"sqlite:///{workdir / 'memory.db'}")
    add_staff(engine)
    numbers = bulk_cases(engine, count)
    warm = min(1000, count // 10)
    for number in numbers[:warm]:
        engine.advance(number, "teruskan", "admin")
    gc.collect()
    before = rss_mb()
    samples = []
    for index, number in enumerate(numbers[warm:], start=1):
        engine.advance(number, "teruskan", "admin")
        if index % max(1, (count - warm) // 10) == 0:
            samples.append(round(rss_mb(), 1))
    gc.collect()
    after = rss_mb()
    engine.db.dispose()
    return {"transitions": count - warm, "distinct_cases": count - warm, "rss_before_mb": before,
            "rss_after_mb": after, "growth_mb": after - before, "rss_samples_mb": samples}

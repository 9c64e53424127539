"""Start-up cost: whole processes (`treckk --help`, `treckk validate`) and in-process validation."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _process_seconds(args: list[str], runs: int) -> float:
    samples = []
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "runner.py"), *args], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def startup(runs: int = 5) -> dict[str, Any]:
    from engine.compile.workflow import _compile_cached, bundle_from_files

    _process_seconds(["--help"], 1)  # warm the file cache and bytecode
    bundle = bundle_from_files(ROOT / "workflows" / "treckk.yaml")
    _compile_cached.__wrapped__(bundle.to_json())  # first compile pays imports once
    samples = []
    for _ in range(max(runs, 10)):
        started = time.perf_counter()
        _compile_cached.__wrapped__(bundle_from_files(ROOT / "workflows" / "treckk.yaml").to_json())
        samples.append(time.perf_counter() - started)
    return {
        "help_s": _process_seconds(["--help"], runs),
        "validate_s": _process_seconds(["validate"], runs),
        "load_validate_ms": statistics.median(samples) * 1000,
    }

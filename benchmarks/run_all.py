"""Run every benchmark script in this folder, one after another (`make bench`).

Each script prints its table and writes JSON to benchmarks/results/; BENCHMARKS.md keeps the
latest tables with the date and the command.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"\n=== {script.name} ===", flush=True)
    if subprocess.run([sys.executable, str(script)]).returncode != 0:
        failed.append(script.name)
if failed:
    sys.exit(f"failed: {', '.join(failed)}")

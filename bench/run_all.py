"""Run every benchmark in bench/ and print its figures (the `make bench` target).

Each script also runs alone: .venv/bin/python bench/<name>.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["due_rows.py", "fanout.py", "memory.py", "timeliness.py"]

if __name__ == "__main__":
    failed = 0
    for name in SCRIPTS + sorted(
        p.name for p in HERE.glob("*.py") if p.name not in {*SCRIPTS, "run_all.py", "_common.py"}
    ):
        print(f"== {name}", flush=True)
        done = subprocess.run([sys.executable, str(HERE / name)], check=False)
        failed += done.returncode != 0
    raise SystemExit(1 if failed else 0)

"""CLI start-up benchmark: what a person waits for, end to end, per command.

    python -m bench.cli                 # 15 runs each
    python -m bench.cli --runs 31

Each command runs as a real subprocess (the installed `lineage` program beside this
interpreter, as a virtual environment's `bin` has it; else the one on PATH; else
`python -m lineage_cli`), `--runs` times, alternating with
`python -c pass` in the same loop so both see the same machine load; it prints the median
and the ratio to the bare interpreter. The store is the tour's pipeline
(examples/fraud/manifest.yaml) registered into a fresh SQLite file.

Targets (issue 17): `lineage --help` <= 0.3 s; `lineage impact transactions.category`
<= 0.4 s. It prints, and never asserts: the figures are for people (see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "examples" / "fraud" / "manifest.yaml"


def _timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (median)")
    args = parser.parse_args()
    # beside the interpreter first: a version manager's shim on PATH (pyenv's is a bash
    # script) would add its own start-up to every command but not to `python -c pass`
    beside = Path(sys.executable).with_name("lineage")
    program = str(beside) if beside.is_file() else shutil.which("lineage")
    lineage = [program] if program else [sys.executable, "-m", "lineage_cli"]
    print(f"running: {' '.join(lineage)}")
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "LINEAGE_URL": f"sqlite:///{Path(folder) / 'tour.db'}"}
        subprocess.run([*lineage, "register", str(MANIFEST)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "lineage --help": [*lineage, "--help"],
            "lineage impact --help": [*lineage, "impact", "--help"],
            "lineage impact transactions.category": [*lineage, "impact",
                                                     "transactions.category"],
            "lineage stats": [*lineage, "stats"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                times[name].append(_timed(argv, env))
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # a pip install writes bytecode; with this set, each run compiles lineage's own
        # modules from source again (~30 modules on a read), which a user does not pay
        print("note: PYTHONDONTWRITEBYTECODE is set, so every run recompiles lineage's "
              "modules; unset it (or set PYTHONPYCACHEPREFIX) for an installed user's figure")
    base = statistics.median(times["python -c pass"])
    print(f"{'command':40} {'median s':>9} {'x python -c pass':>17}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"{name:40} {median:9.3f} {median / base:17.1f}")


if __name__ == "__main__":
    main()

"""A fuzz campaign outside the test suite: the properties of ``tests/test_fuzz_inputs.py``
(every generated network YAML, ``--set`` override, SCALE-Sim topology row and small ONNX
graph ends in a result that keeps its invariants or in a one-line AccelsimError, never a
traceback) and of ``tests/test_fuzz_cli.py`` (every generated arch YAML, SCALE-Sim ``.cfg``,
transform spec and sweep YAML, through the command line, ends in exit 0 with a table that
keeps its invariants or in exit 2 with lines naming the file or key) on ``--cases`` new
random cases instead of the suite's 520 fixed ones.

The suite's cases are derandomized so CI is reproducible; here hypothesis draws at random
from ``--seed`` (printed, so a failure can be replayed with the same seed). The outcome per
family (ran / refused / failed) comes from hypothesis' own statistics; any failure prints
hypothesis' minimal failing input and the script exits 1.

    PYTHONPATH=. python benchmarks/fuzz_campaign.py [--cases 1000] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FILES = ("tests/test_fuzz_inputs.py", "tests/test_fuzz_cli.py")
SUITE_CASES = 520   # the suite's cases: 120 + 80 + 60 + 60 (tests/test_fuzz_inputs.py)
#                     + 50 + 50 + 50 + 50 (tests/test_fuzz_cli.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases in all (default 1000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random)")
    args = parser.parse_args(argv)
    seed = random.randrange(2 ** 31) if args.seed is None else args.seed
    env = dict(os.environ, PYTHONPATH=str(REPO), ACCELSIM_FUZZ_RANDOM="1",
               ACCELSIM_FUZZ_SCALE=str(args.cases / SUITE_CASES))
    command = [sys.executable, "-m", "pytest", *FILES, "-q",
               "-p", "no:randomly", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}",
               "--hypothesis-show-statistics"]
    print(f"fuzz campaign: {args.cases} cases, hypothesis seed {seed}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    families = _statistics(done.stdout)
    for family, (passing, outcomes) in families.items():
        shown = ", ".join(f"{name} {share}" for name, share in outcomes)
        print(f"  {family:<36} {passing:>5} cases  {shown}")
    total = sum(passing for passing, _ in families.values())
    print(f"{total} cases in {elapsed:.0f} s; pytest exit {done.returncode}")
    if done.returncode != 0:
        print(done.stdout[-6000:], done.stderr[-2000:], sep="\n")
        print(f"replay: ACCELSIM_FUZZ_RANDOM=1 ACCELSIM_FUZZ_SCALE={args.cases / SUITE_CASES} "
              f"python -m pytest {' '.join(FILES)} --hypothesis-seed={seed}")
        return 1
    return 0


def _statistics(text: str) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """Family -> (passing examples, [(event, share)]) from ``--hypothesis-show-statistics``."""
    families: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    for block in re.split(r"\n(?=tests/test_fuzz_\w+\.py::)", text):
        name = re.match(r"tests/test_fuzz_\w+\.py::(\S+)", block)
        passing = [int(n) for n in re.findall(r"(\d+) passing, \d+ failing", block)]
        if not (name and passing):
            continue
        events = re.findall(r"^\s+\* (\d+\.?\d*%), (.+)$", block, flags=re.M)
        families[name.group(1).rstrip(":")] = (sum(passing),
                                               [(e, share) for share, e in events])
    return families


if __name__ == "__main__":
    sys.exit(main())

"""Runs in a fresh process at a given thread count, as digests: a result must not depend on
``NUMBA_NUM_THREADS`` (or BLAS's threads), so the digests at 1 and 2 threads must be equal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import hashlib
from accelsim import simulate
{setup}
for config in {configs!r}:
    result = simulate(config, network, tensors=tensors, keep_outputs=True)
    digest = hashlib.sha256(result.layers.to_csv().encode() + result.counts.to_csv().encode())
    for name in sorted(result.outputs):
        digest.update(result.outputs[name].q.tobytes())
    print(config, digest.hexdigest())
"""


def run_digests(configs: tuple[str, ...], setup: str, threads: int) -> list[str]:
    """One ``config digest`` line per config: the per-layer table, counts and every output
    of a run on ``network`` / ``tensors`` (made by the ``setup`` code) at ``threads``."""
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _SCRIPT.format(setup=setup, configs=configs)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()

"""Simulation time vs a reference inference of the same network, measured side by side.

For each (architecture, network) pair: the seeded tensors are made once (outside both
clocks), then the best-of-N wall time of ``accelsim.sim.simulate`` (numba already compiled by a
warm-up run) and of a BLAS-backed float32 numpy inference with the same weights and input.
The ratio is the number to track (target for the Foundation issue: <= 20x on VGG-16/DianNao;
next target 5x). Run from the repository root:

    PYTHONPATH=. python benchmarks/bench_speed.py [--workloads vgg16,resnet50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accelsim  # noqa: E402
from accelsim.workload import load_network  # noqa: E402
from accelsim.workload.tensors import make_tensors  # noqa: E402
from benchmarks.numpy_inference import time_inference  # noqa: E402


def time_simulation(arch, network, tensors, repeats: int) -> float:
    accelsim.simulate(arch, network, tensors=tensors)        # warm-up: numba compile/cache
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        accelsim.simulate(arch, network, tensors=tensors)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="diannao")
    parser.add_argument("--workloads", default="vgg16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'arch':10s} {'workload':14s} {'GMACs':>7s} {'simulate s':>11s} "
          f"{'reference s':>12s} {'ratio':>7s}")
    for workload in args.workloads.split(","):
        network = load_network(workload)
        tensors = make_tensors(network, 0)
        reference = time_inference(network, tensors, repeats=args.repeats)
        for arch in args.archs.split(","):
            simulated = time_simulation(arch, network, tensors, args.repeats)
            print(f"{arch:10s} {workload:14s} {network.macs / 1e9:7.2f} {simulated:11.2f} "
                  f"{reference:12.3f} {simulated / reference:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

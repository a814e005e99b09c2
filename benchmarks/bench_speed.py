"""Simulation time vs a reference inference of the same network, measured side by side.

For each (architecture, network) pair: the tensors are made once (outside both clocks), then
the best-of-N wall time of ``accelsim.simulate`` (numba already compiled by a warm-up run)
and of a reference inference on the same weights and input. The ratio is the number to
track (issue 22: every core <= 10x ONNX Runtime on VGG-16, DianNao <= 5x). References:

* ``--vs numpy`` (default): a BLAS-backed float32 numpy inference (``numpy_inference.py``),
  seeded He-normal tensors, simulation in this process.
* ``--vs onnxruntime``: the network exported with ``onnx.helper`` (``onnx_inference.py``,
  checked against the numpy inference) in ONNX Runtime, ``--threads`` intra-op threads (also
  the simulator's ``NUMBA_NUM_THREADS``), best of ``--repeats`` after a warm-up, tensors
  from ``--values`` (default ``calibrated``, the CLI's). Each simulation runs in its own
  spawned child process (a warm-up on a small network, then the timed runs): ``RSS MB`` is
  that process's peak (making the tensors included), ``sim RSS MB`` the peak while it
  simulates (tensors resident; Linux's VmHWM, reset after the tensors are made).
* ``--reuse`` (with ``--vs onnxruntime``): the timed runs are a sweep's count-only points
  (``simulate(..., reuse=...)`` on values recorded once by ``record_values``, as
  ``accelsim sweep`` does for every point after the first with the same value key); issue
  22's target for them is <= 1x ONNX Runtime.

Run from the repository root:

    PYTHONPATH=. python benchmarks/bench_speed.py [--workloads vgg16,resnet50] [--repeats 3]
    PYTHONPATH=. python benchmarks/bench_speed.py --vs onnxruntime --archs all
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accelsim  # noqa: E402
from accelsim.files import shipped  # noqa: E402
from accelsim.sim.simulate import record_values  # noqa: E402
from accelsim.workload import load_network, load_tensors  # noqa: E402
from accelsim.workload.formats.yaml_network import network_from_dict  # noqa: E402
from accelsim.workload.tensors import make_tensors  # noqa: E402
from benchmarks.numpy_inference import time_inference  # noqa: E402

WARMUP = {"name": "warmup", "input": [3, 16, 16], "layers": [
    {"name": "c1", "kind": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "relu": True},
    {"name": "c2", "kind": "conv", "out_channels": 8, "kernel": 1, "relu": True},
    {"name": "sum", "kind": "add", "inputs": ["c1", "c2"], "relu": True},
    {"name": "p", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
    {"name": "c3", "kind": "conv", "out_channels": 8, "kernel": 3, "stride": 2},
    {"name": "a", "kind": "pool", "op": "avg", "kernel": 2, "stride": 2},
    {"name": "fc", "kind": "fc", "out_channels": 10}]}
"""Every layer kind of the zoo's CNNs: compiles (or loads) the kernels before the clock."""


def time_simulation(arch, network, tensors, repeats: int) -> float:
    accelsim.simulate(arch, network, tensors=tensors)        # warm-up: numba compile/cache
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        accelsim.simulate(arch, network, tensors=tensors)
        best = min(best, time.perf_counter() - start)
    return best


def _peak_rss_mb() -> float:
    """VmHWM of this process (reset by :func:`_reset_peak`), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")        # Linux >= 4.0: reset VmHWM
    except OSError:
        pass


def _child(arch: str, workload: str, values: str, repeats: int, reuse: bool, queue) -> None:
    """One arch on one network in a fresh process: best seconds, the process's peak RSS
    (tensor making included) and the peak RSS during the simulations alone. With ``reuse``
    the timed runs only count, on values one full run recorded first (a sweep's later
    points)."""
    network = load_network(workload)
    tensors = load_tensors(network, 0, values=values)
    warm = network_from_dict(WARMUP, "warmup")
    accelsim.simulate(arch, warm, tensors=make_tensors(warm, 0))
    run = {"tensors": tensors}
    if reuse:
        _, known = record_values(arch, network, tensors=tensors)
        run = {"reuse": known}
    process_peak = _peak_rss_mb()
    _reset_peak()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        accelsim.simulate(arch, network, **run)
        best = min(best, time.perf_counter() - start)
    simulate_peak = _peak_rss_mb()
    queue.put((best, max(process_peak, simulate_peak), simulate_peak))


def simulate_in_child(arch: str, workload: str, values: str, repeats: int,
                      reuse: bool = False):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child,
                              args=(arch, workload, values, repeats, reuse, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def vs_onnxruntime(args) -> int:
    from benchmarks import onnx_inference

    archs = sorted(shipped("arch_configs")) if args.archs == "all" else args.archs.split(",")
    print(f"ONNX Runtime {args.threads} intra-op threads, NUMBA_NUM_THREADS={args.threads}, "
          f"values {args.values}, best of {args.repeats} (sim after a small-network warm-up, "
          "ORT after one run)" + ("; simulate = a count-only run on recorded values"
                                 if args.reuse else ""))
    print(f"{'arch':20s} {'workload':10s} {'GMACs':>6s} {'simulate s':>11s} {'ORT s':>8s} "
          f"{'ratio':>8s} {'RSS MB':>7s} {'sim RSS MB':>10s}")
    for workload in args.workloads.split(","):
        network = load_network(workload)
        tensors = load_tensors(network, 0, values=args.values)
        model = onnx_inference.to_onnx(network, tensors)
        error = onnx_inference.check(network, tensors, model)
        if error > 1e-3:
            raise SystemExit(f"{workload}: ORT output differs from numpy by {error:.2e}")
        for arch in archs:
            seconds, rss_mb, sim_rss_mb = simulate_in_child(arch, workload, args.values,
                                                            args.repeats, args.reuse)
            ort_s = onnx_inference.time_inference(network, tensors, args.repeats,
                                                  args.threads, model)
            print(f"{arch:20s} {workload:10s} {network.macs / 1e9:6.2f} {seconds:11.2f} "
                  f"{ort_s:8.3f} {seconds / ort_s:7.1f}x {rss_mb:7.0f} {sim_rss_mb:10.0f}",
                  flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="diannao", help="comma-separated, or 'all'")
    parser.add_argument("--workloads", default="vgg16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vs", choices=("numpy", "onnxruntime"), default="numpy")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--values", choices=("calibrated", "synthetic"), default="calibrated")
    parser.add_argument("--reuse", action="store_true",
                        help="time count-only runs on recorded values (--vs onnxruntime)")
    args = parser.parse_args(argv)
    if args.reuse and args.vs != "onnxruntime":
        parser.error("--reuse needs --vs onnxruntime")
    if args.vs == "onnxruntime":
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)     # inherited by the children
        return vs_onnxruntime(args)
    print(f"{'arch':10s} {'workload':14s} {'GMACs':>7s} {'simulate s':>11s} "
          f"{'reference s':>12s} {'ratio':>7s}")
    for workload in args.workloads.split(","):
        network = load_network(workload)
        tensors = make_tensors(network, 0)
        reference = time_inference(network, tensors, repeats=args.repeats)
        archs = sorted(shipped("arch_configs")) if args.archs == "all" else args.archs.split(",")
        for arch in archs:
            simulated = time_simulation(arch, network, tensors, args.repeats)
            print(f"{arch:10s} {workload:14s} {network.macs / 1e9:7.2f} {simulated:11.2f} "
                  f"{reference:12.3f} {simulated / reference:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

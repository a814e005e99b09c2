"""Where a simulation's time goes: numba kernels, the engine, numpy glue, Python glue.

Runs each architecture once on a network under cProfile (after an unprofiled warm-up run,
whose wall time is printed too: cProfile inflates the Python parts; ``--no-warmup`` skips it,
the kernels then load from numba's cache inside the profile). A numba dispatcher's call is an
entry of its own: a file under ``accelsim/kernels``, or a numba function of any accelsim
module (``fixedpoint``'s output stage, for one), makes it ``kernel``; the simpy package
and ``accelsim/engine`` (its numba replay of the simpy processes too) are ``engine``;
numpy's functions and array methods ``numpy``; the main thread waiting on a lock is
``kernel`` too (it waits for the GEMMs :mod:`accelsim.kernels.blas_threads` deals to threads,
which cProfile does not see; nothing else in a simulation waits on threads); everything else
``python``.
Used for the before/after split in ``benchmarks/README.md`` (issue 22). Run from the root:

    PYTHONPATH=. python benchmarks/profile_split.py --archs scnn,sparten --workload vgg16
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accelsim  # noqa: E402
from accelsim.workload import load_network, load_tensors  # noqa: E402


def numba_functions() -> set[tuple[str, int]]:
    """(file, first line) of every numba function in the accelsim modules loaded so far."""
    from numba.core.registry import CPUDispatcher

    found = set()
    for name, module in list(sys.modules.items()):
        if name.startswith("accelsim"):
            for value in vars(module).values():
                if isinstance(value, CPUDispatcher):
                    code = value.py_func.__code__
                    found.add((code.co_filename, code.co_firstlineno))
    return found


def category(filename: str, function: str, line: int = 0, numba=frozenset()) -> str:
    if "/accelsim/kernels/" in filename or (filename, line) in numba \
            or "acquire' of '_thread.lock" in function:
        return "kernel"
    if "simpy" in filename or "/accelsim/engine/" in filename:
        return "engine"
    if "numpy" in filename or "numpy" in function or "ndarray" in function:
        return "numpy"
    return "python"


def split(arch: str, network, tensors) -> dict[str, float]:
    profile = cProfile.Profile()
    profile.enable()
    accelsim.simulate(arch, network, tensors=tensors)
    profile.disable()
    totals = dict.fromkeys(("kernel", "engine", "numpy", "python"), 0.0)
    numba = numba_functions()
    for (filename, line, function), row in pstats.Stats(profile).stats.items():
        totals[category(filename, function, line, numba)] += row[2]   # tottime
    return totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="diannao")
    parser.add_argument("--workload", default="vgg16")
    parser.add_argument("--values", choices=("calibrated", "synthetic"), default="calibrated")
    parser.add_argument("--no-warmup", action="store_true")
    args = parser.parse_args(argv)
    network = load_network(args.workload)
    tensors = load_tensors(network, 0, values=args.values)
    print(f"{'arch':20s} {'wall s':>7s} {'profiled s':>10s} {'kernel':>7s} {'engine':>7s} "
          f"{'numpy':>7s} {'python':>7s}")
    for arch in args.archs.split(","):
        start = time.perf_counter()
        if not args.no_warmup:
            accelsim.simulate(arch, network, tensors=tensors)
        wall = time.perf_counter() - start                       # warm-up, and wall time
        parts = split(arch, network, tensors)
        total = sum(parts.values())
        print(f"{arch:20s} {wall:7.2f} {total:10.2f} " + " ".join(
            f"{100 * parts[k] / total:6.1f}%" for k in ("kernel", "engine", "numpy", "python")),
            flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

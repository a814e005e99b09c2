"""Run independent GEMMs on our own threads, each on a single-threaded BLAS.

A layer's exact Winograd sums (:mod:`accelsim.kernels.exact_winograd`) are 16 independent
GEMMs per chunk. Left to BLAS, each is split over its threads, which must all run to finish
the call: on the shared 2-core machine of issue 22 (load 7-11) that cost 20-40 ms a call and
made the path 1.6x slower than one im2col GEMM; with BLAS at one thread and the 16 GEMMs
dealt to as many Python threads as BLAS would have used (numpy releases the GIL in
``matmul``), the same sums took 2-3x less wall time than the im2col GEMM. The numbers
cannot change: every GEMM sums exact integers (any order gives the same float64).

Only numpy's bundled OpenBLAS (``numpy.libs`` / ``numpy/.dylibs``) is recognised, through its
``scipy_openblas_{get,set}_num_threads[64_]`` (as threadpoolctl does); with any other BLAS the
GEMMs run one after the other on BLAS's own threads.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

_LOCK = threading.Lock()
"""Held while BLAS is at one thread, so that concurrent callers restore the right count."""


@cache
def _openblas() -> tuple[Callable, Callable] | None:
    """numpy's bundled OpenBLAS's (get, set) thread-count functions, or None."""
    root = Path(np.__file__).resolve().parent
    for library in sorted([*root.parent.glob("numpy.libs/*openblas*"),
                           *root.glob(".dylibs/*openblas*")]):
        try:
            blas = ctypes.CDLL(str(library))
        except OSError:
            continue
        for suffix in ("64_", ""):    # scipy-openblas64 (64-bit ints), scipy-openblas32
            get = getattr(blas, f"scipy_openblas_get_num_threads{suffix}", None)
            set_ = getattr(blas, f"scipy_openblas_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None


def matmuls(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[k] = a[k] @ b[k]`` for every k (3-D float64 arrays), the k dealt to threads."""
    controls = _openblas()
    if controls is None or controls[0]() <= 1 or len(a) == 1:
        np.matmul(a, b, out=out)      # BLAS's own threads, if any
        return

    def part(ks: Sequence[int]) -> None:
        for k in ks:
            np.matmul(a[k], b[k], out=out[k])

    get, set_ = controls
    with _LOCK:
        threads = get()
        set_(1)
        try:
            with ThreadPoolExecutor(threads) as pool:
                for done in [pool.submit(part, range(t, len(a), threads))
                             for t in range(threads)]:
                    done.result()
        finally:
            set_(threads)

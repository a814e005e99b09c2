"""Compile the numba kernels in a throw-away process before a whole-suite run.

``python -m tests.warm_kernels`` runs the golden network of ``tests/test_speed_golden.py``
(conv, strided conv, 1x1, pooling, add, fc; pruned weights, so the skipping paths run too)
on every shipped config, which compiles nearly every kernel into numba's on-disk cache.
Why: compiling in LLVM leaves hundreds of MB in the process that compiled (memory its
allocator does not give back), and a whole suite compiled in the pytest process peaked at
3.6 GB on a fresh install; the pytest process then only loads the cached machine code.
Nothing here is asserted: the tests check the same runs.
"""

from __future__ import annotations

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.files import shipped
from tests.test_speed_golden import NETWORK, golden_tensors


def main() -> None:
    tensors = golden_tensors()
    for config in sorted(shipped("arch_configs")):
        simulate(load_arch(config), NETWORK, tensors=tensors)


if __name__ == "__main__":
    main()

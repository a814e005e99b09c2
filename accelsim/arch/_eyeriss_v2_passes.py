"""Eyeriss v2's PE passes over one conv / fc layer (:mod:`accelsim.arch.eyeriss_v2` says what
they model): the cuts (lanes, k-ranges, position segments), every task's statistics and the
layer's exact sums.

Two paths, the same numbers (``tests/test_eyeriss_v2.py`` compares them):

* fixed16 operands: the sums are the layer's exact integer sums
  (:mod:`accelsim.kernels.exact_sums`; every product the PEs skip has a zero factor, so each
  output's sum is the dense one) and :func:`accelsim.kernels.csc.count_tasks` counts the
  passes straight from the padded input and the weights' word counts, without building the
  CSC data (as SCNN and Phantom count while their sums come from the same place);
* fp32 operands (float sums depend on their order): the CSC walk
  :func:`accelsim.kernels.csc.run_tasks` adds product by product in the PEs' order and
  counts in the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.kernels import csc, exact_sums
from accelsim.workload.layer import Layer


@dataclass(frozen=True)
class Passes:
    """A layer's PE passes: ``sums`` (``M x positions``: int64 fixed16, float64 fp32), the
    weights' CSC address vector ``wptr``, the cuts and the per-task statistics
    (:data:`accelsim.kernels.csc.N_STATS` columns, tasks in ``(g, r, mb, s)`` order)."""

    sums: np.ndarray
    wptr: np.ndarray
    cuts: np.ndarray
    seg_cuts: np.ndarray
    n_mb: int
    lanes: int
    task_stats: np.ndarray


def run(layer: Layer, x: np.ndarray, w: np.ndarray, xpad: np.ndarray, params) -> Passes:
    """The passes of ``layer`` on input ``x`` (``layer.in_shape``), weights ``w``
    (``M x K``) and the zero-padded input ``xpad``, with the core's ``params``."""
    p = params
    k_len = w.shape[1]
    exact = exact_sums.applies(x, w) and layer.depth is None
    if exact:
        wptr, wnonzeros = csc.weight_counts(w, layer.groups, p.psum_spad_words, p.macs_per_pe)
    else:
        wcsc = csc.weight_csc(w, layer.groups, p.psum_spad_words, p.macs_per_pe)
        wptr = wcsc[0]
    _, n_mb, lanes = csc.lanes_of(layer.out_channels, layer.groups, p.psum_spad_words)
    cuts = csc.k_cuts(np.diff(wptr), lanes, k_len,
                      min(p.iact_spad_words, p.weight_addr_words), p.weight_spad_words)
    positions = layer.out_h * layer.out_w
    n_seg = csc.segments(lanes * (len(cuts) - 1), positions, p.pes)
    seg_cuts = (np.arange(n_seg + 1) * positions) // n_seg
    geometry = (layer.in_channels_per_group, layer.kernel_h, layer.kernel_w,
                *layer.stride, layer.out_w, positions)
    timing = {"iact_addr_cycles": p.iact_addr_cycles,
              "weight_addr_cycles": p.weight_addr_cycles}
    if exact:
        task_stats = csc.count_tasks(xpad, (wptr, wnonzeros), cuts, seg_cuts, geometry,
                                     n_mb=n_mb, **timing)
        sums = exact_sums.conv_sums(x, w.reshape(layer.weight_shape), layer.stride,
                                    layer.pad).reshape(layer.out_channels, -1)
    else:
        icsc = csc.iact_csc(xpad, cuts, geometry)
        acc, task_stats = csc.run_tasks(
            wcsc, icsc, cuts, seg_cuts, groups=layer.groups, out_channels=layer.out_channels,
            m_block=p.psum_spad_words, k_len=k_len, **timing)
        sums = acc.T
    return Passes(sums, wptr, cuts, seg_cuts, n_mb, lanes, task_stats)

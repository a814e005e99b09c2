"""SCALE-Sim 3.0.0's N:M sparsity on the systolic array (``[sparsity] SparsitySupport: True``).

Read from ``compute/operand_matrix.py``, ``compute/compression.py``, ``single_layer_sim.py``
and ``compute/systolic_compute_ws.py``; what it does, and this module with the core:

* A layer's ``N:M`` (its topology row's ``Sparsity``; 1:1 without one) keeps window element
  ``t`` (order ``(ky, kx, c)``) where ``t % M < N``: the first N of every M, at the same
  positions in every filter (``sparse_filter_array``). The filter operand matrix is compressed
  to those rows and the ifmap operand matrix to those columns, so the array runs a dense GEMM
  over the kept window elements (:func:`kept_window`; the kernels take them as ``kept``).
  Overall Util still counts the dense MACs.
* In ws the ifmap SRAM reads are multiplied by ``M / N`` ("a single block of input is shared
  among M/N rows"), fold by fold, in floating point (:func:`ws_ifmap_reads`).
* SPARSE_REPORT: the filter storage in words before and after compression and the metadata
  (:func:`storage`, ``SparseRep`` csr, csc or ellpack_block); BANDWIDTH_REPORT gains the
  metadata's SRAM bandwidth, metadata words / layer cycles.

``OptimizedMapping`` (ws only): each filter keeps the first ``N`` of every ``BlockSize``
window elements, ``N`` drawn per filter from ``randint(1, BlockSize / 2 + 1)`` after
``np.random.seed(RandomNumberGeneratorSeed)`` (per layer; the row's N:M then only sets the
ellpack metadata width). The filter is compressed two blocks at a time into ``BlockSize``
rows, -1 where a block's kept weights run out (:func:`compressed_filter`); a fold holds ``R``
compressed rows, fed by ``2R`` window elements of the ifmap in blocks of ``BlockSize``
(:func:`accelsim.kernels.systolic._demand_row_optimized`).
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.workload.formats.topology_csv import optimized_counts

SPARSE_REPS = ("csr", "csc", "ellpack_block")


def kept_window(window: int, n: int, m: int) -> np.ndarray:
    """The window elements SCALE-Sim keeps at N:M, in order."""
    return np.flatnonzero(np.arange(window) % m < n)


def ws_ifmap_reads(kept: int, pixels: int, rows: int, col_folds: int, n: int, m: int) -> float:
    """SCALE-Sim's ws ifmap SRAM reads over a compressed reduction of ``kept`` elements: per
    fold the ``pixels x`` (lanes used) demand entries times ``M / N``, summed as it sums them."""
    reads = 0
    for _ in range(col_folds):
        for fold_row in range(-(-kept // rows)):
            lanes = min(kept, fold_row * rows + rows) - fold_row * rows
            reads += pixels * lanes * (m / n)
    return reads


def storage(rep: str, window: int, filters: int, nonzero: int, stored: int, m: int) -> tuple:
    """(original filter words, words after compression incl. metadata, metadata words) of one
    GEMM's ``window x filters`` filter with ``nonzero`` weights kept and ``stored`` compressed
    rows, as ``compression.py`` counts them (``m``: the row's M, ellpack's index width)."""
    original = window * filters
    if rep == "csr":
        return original, 2 * nonzero + window + 1, nonzero + window + 1
    if rep == "csc":
        return original, 2 * nonzero + filters + 1, nonzero + filters + 1
    metadata = ((stored * filters) * math.ceil(math.log2(m))) / 32
    return original, (stored * filters) + metadata, metadata


def optimized_mapping_problem(dataflow: str, rows: int, block: int) -> str:
    """Why SCALE-Sim 3.0.0 cannot run the optimized mapping here ('' if it can)."""
    if dataflow != "ws":
        return f"SCALE-Sim 3.0.0 runs it in ws only (it fails in {dataflow})"
    if block < 2 or block % 2 or block > rows or (2 * rows) % block:
        return (f"BlockSize {block} must be even, at most ArrayHeight {rows} and divide "
                f"2 x ArrayHeight (SCALE-Sim fails otherwise)")
    return ""


def compressed_filter(window: int, filters: int, block: int, seed: int) -> np.ndarray:
    """The optimized mapping's compressed filter: ``ceil(window / 2B) * B`` rows x
    ``filters``; entry = the kept weight's address ``filter * window + t``, or -1."""
    counts = optimized_counts(filters, block, seed)
    chunks = -(-window // (2 * block))
    fmat = np.full((chunks * block, filters), -1, dtype=np.int64)
    half = block // 2
    for chunk in range(chunks):
        for side in range(2):
            first = chunk * 2 * block + side * block
            for i in range(half):
                t = first + i
                if t < window:
                    keep = i < counts
                    fmat[chunk * block + side * half + i, keep] = \
                        np.flatnonzero(keep) * window + t
    return fmat


"""The fast paths of issue 22 for the DianNao-family kernels give the old loop's numbers.

fixed16 sums come from a BLAS GEMM (``kernels/dense_gemm.py``; 3x3 stride-1 layers by exact
integer Winograd, ``kernels/exact_winograd.py``) instead of the NFU tile loop; the loop stays
for fp32. On operands small enough that float64 sums of the loop are exact
in any order, the loop (run on float32 copies) and the GEMM (on int16) must agree bit for
bit, and both must equal the numpy reference; counts must not depend on which path computed
the sums; and no number may depend on the thread count (numba's or BLAS's).
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.arch import diannao
from accelsim.config import load_arch
from accelsim.kernels import blas_threads, dense, dense_gemm, exact_winograd, zero_skip
from accelsim.workload import Layer
from tests import reference
from tests.thread_digests import run_digests

# (name, layer fields): dense, wide (two blocks of DaDianNao's 256 filters), grouped (groups
# straddling 16-channel blocks), depthwise, strided with asymmetric padding, 1x1, few
# positions (int64 path), fc (one position).
SHAPES = [
    ("dense", dict(in_channels=20, in_h=9, in_w=8, out_channels=24, kernel_h=3, kernel_w=3,
                   pad=(1, 1, 1, 1))),
    ("wide", dict(in_channels=40, in_h=5, in_w=6, out_channels=300, kernel_h=3, kernel_w=3,
                  pad=(1, 1, 1, 1))),
    ("grouped", dict(in_channels=24, in_h=7, in_w=9, out_channels=40, kernel_h=3, kernel_w=3,
                     groups=4, pad=(1, 1, 1, 1))),
    ("depthwise", dict(in_channels=32, in_h=8, in_w=8, out_channels=32, kernel_h=3,
                       kernel_w=3, groups=32, stride=(2, 2), pad=(0, 0, 1, 1))),
    ("strided", dict(in_channels=12, in_h=11, in_w=10, out_channels=18, kernel_h=3,
                     kernel_w=5, stride=(2, 1), pad=(0, 1, 1, 2))),
    ("pointwise", dict(in_channels=40, in_h=6, in_w=7, out_channels=17, kernel_h=1,
                       kernel_w=1)),
    ("few_positions", dict(in_channels=16, in_h=3, in_w=3, out_channels=20, kernel_h=2,
                           kernel_w=2, groups=2)),
    ("fc", dict(kind="fc", in_channels=12, in_h=3, in_w=4, out_channels=21, kernel_h=3,
                kernel_w=4)),
]


def _layer(fields: dict) -> Layer:
    fields = {"kind": "conv", **fields}
    return Layer(name=fields["kind"], inputs=("prev",), **fields)


def _operands(layer: Layer, magnitude: int, seed: int = 0, zeros: float = 0.0):
    """Padded H x W x C input and M x C/G x R x S weights, int16, with some zero inputs."""
    rng = np.random.default_rng(seed)
    top, left, bottom, right = layer.pad
    x = rng.integers(-magnitude, magnitude + 1,
                     (layer.in_h, layer.in_w, layer.in_channels)).astype(np.int16)
    x[rng.random(x.shape) < zeros] = 0
    x = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    w = rng.integers(-magnitude, magnitude + 1, layer.weight_shape).astype(np.int16)
    return x, w


def _reference_sums(layer: Layer, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """numpy's float64 conv of the padded input, P x Q x M."""
    out = reference.conv2d(x.transpose(2, 0, 1), w, None, layer.stride, (0, 0, 0, 0),
                           layer.groups)
    return out.transpose(1, 2, 0)


def _conv_tiles(core, layer, x, w, **kwargs):
    tiling = core.tile(layer)
    n_steps = min(tiling.n_tiles, 7)
    return dense.conv_tiles(x, w, core._conv_geometry(layer), tiling.as_tuple(), n_steps,
                            tiling.n_tiles, sb_lanes=core.params.tn, **kwargs)


@pytest.mark.parametrize("name, fields", SHAPES, ids=[s[0] for s in SHAPES])
@pytest.mark.parametrize("config", ["diannao", "dadiannao"])
def test_gemm_sums_equal_the_tile_loop_and_numpy(name, fields, config):
    """Small operands (|v| <= 2**10): the loop's float64 sums of float32 products are exact,
    so the loop, the GEMM path and numpy must agree exactly; counts are path-independent."""
    core = diannao.Core(load_arch(config))
    layer = _layer(fields)
    x, w = _operands(layer, 1 << 10, seed=len(name))
    loop_acc, loop_counts = _conv_tiles(core, layer, x.astype(np.float32), w.astype(np.float32))
    gemm_acc, gemm_counts = _conv_tiles(core, layer, x, w)
    np.testing.assert_array_equal(gemm_acc, loop_acc)
    np.testing.assert_array_equal(gemm_acc, _reference_sums(layer, x, w))
    np.testing.assert_array_equal(gemm_counts, loop_counts)
    assert np.any(gemm_acc != 0)


@pytest.mark.parametrize("name, fields", SHAPES, ids=[s[0] for s in SHAPES])
def test_gemm_full_int16_range_in_small_chunks(name, fields):
    """Full-range int16 operands, im2col chunks of a few rows: still numpy's exact sums."""
    layer = _layer(fields)
    x, w = _operands(layer, 32767, seed=3)
    x[0, 0, 0], w.flat[0] = -32768, -32768
    expected = _reference_sums(layer, x, w)
    for chunk in (1, 37, dense_gemm.MAX_PATCH_ELEMENTS):
        np.testing.assert_array_equal(
            dense_gemm.conv_sums(x, w, layer.stride, max_patch_elements=chunk), expected)


def _int64_sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Stride-1, one-group sums in int64 (exact for any int16 operands): P x Q x M."""
    kh, kw = w.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.int64), (kh, kw), (0, 1))
    return np.einsum("pqcrs,mcrs->pqm", windows, w.astype(np.int64))


WINOGRAD_SHAPES = [(6, 6, 16, 5), (7, 9, 17, 3), (3, 3, 20, 4), (4, 11, 33, 1), (12, 5, 16, 70)]
"""Padded H x W x C and M of 3x3 stride-1 layers: even and odd output sizes, one output
row, the fewest channels the path takes, more filters than a chunk's rows."""


@pytest.mark.parametrize("shape", WINOGRAD_SHAPES, ids=str)
def test_winograd_sums_are_exact_in_chunks(shape):
    """Full-range int16 (and the extremes): the integer Winograd path, whatever its chunk
    (one tile, 3 tiles, all), equals the int64 sums, as ``conv_sums`` does with it."""
    height, width, channels, filters = shape
    rng = np.random.default_rng(channels)
    x = rng.integers(-32768, 32768, (height, width, channels)).astype(np.int16)
    w = rng.integers(-32768, 32768, (filters, channels, 3, 3)).astype(np.int16)
    x[0, :2], w[0, :2] = -32768, 32767
    expected = _int64_sums(x, w).astype(np.float64)
    assert exact_winograd.applies(w, (1, 1), 1)
    for elements in (16 * max(channels, filters), 48 * max(channels, filters), 1 << 23):
        np.testing.assert_array_equal(exact_winograd.conv_sums(x, w, elements), expected)
    np.testing.assert_array_equal(dense_gemm.conv_sums(x, w, (1, 1)), expected)


def test_winograd_at_its_channel_bound():
    """The largest sums the bound allows: every operand -32768 (each transformed product at
    its maximum, every channel adding the same sign) at ``MAX_CHANNELS``; one more channel
    leaves the path (the im2col GEMM), exact too."""
    for channels in (exact_winograd.MAX_CHANNELS, exact_winograd.MAX_CHANNELS + 1):
        x = np.full((5, 4, channels), -32768, np.int16)
        w = np.full((2, channels, 3, 3), -32768, np.int16)
        w[1, :, 1] = 32767
        expected = _int64_sums(x, w)
        assert np.abs(expected).max() > 2 ** 47
        assert exact_winograd.applies(w, (1, 1), 1) == (channels <= exact_winograd.MAX_CHANNELS)
        np.testing.assert_array_equal(dense_gemm.conv_sums(x, w, (1, 1)),
                                      expected.astype(np.float64))


def test_winograd_applies_to_3x3_stride_1_dense_layers_only():
    w = np.zeros((4, 16, 3, 3), np.int16)
    assert exact_winograd.applies(w, (1, 1), 1)
    assert not exact_winograd.applies(w, (2, 2), 1)
    assert not exact_winograd.applies(w, (1, 1), 2)
    assert not exact_winograd.applies(np.zeros((4, 16, 3, 5), np.int16), (1, 1), 1)
    assert not exact_winograd.applies(np.zeros((4, 15, 3, 3), np.int16), (1, 1), 1)


@pytest.mark.parametrize("batch", [1, 3, 16])
def test_threaded_matmuls_equal_numpy_and_restore_blas_threads(batch):
    """The GEMMs dealt to threads give numpy's products, and BLAS gets its thread count back
    (also when a GEMM fails)."""
    rng = np.random.default_rng(batch)
    a = rng.integers(-2 ** 20, 2 ** 20, (batch, 37, 50)).astype(np.float64)
    b = rng.integers(-2 ** 20, 2 ** 20, (batch, 50, 23)).astype(np.float64)
    controls = blas_threads._openblas()
    before = controls[0]() if controls else None
    out = np.empty((batch, 37, 23))
    blas_threads.matmuls(a, b, out)
    np.testing.assert_array_equal(out, np.matmul(a, b))
    with pytest.raises(ValueError):
        blas_threads.matmuls(a, b[:, :49], out)
    assert (controls[0]() if controls else None) == before


def test_gemm_rejects_non_int16():
    with pytest.raises(TypeError, match="int16"):
        dense_gemm.conv_sums(np.zeros((3, 3, 2), np.float32), np.zeros((1, 2, 1, 1), np.float32),
                             (1, 1))


@pytest.mark.parametrize("threshold", [0.0, 300.0])
@pytest.mark.parametrize("name", ["dense", "wide", "grouped", "strided"])
def test_zero_skip_gemm_equals_its_loop(name, threshold):
    """Cnvlutin's zero-skipping pass: int16 (GEMM sums on the thresholded input; counting
    only, so a one-group layer's second block reuses the first's scan) against its own loop
    on float32 copies (every block scanned); sums, tile cycles, lane loads, stats equal."""
    core = diannao.Core(load_arch("dadiannao"))
    layer = _layer(dict(SHAPES)[name])
    x, w = _operands(layer, 1 << 10, seed=5, zeros=0.5)
    tiling = core.tile(layer).as_tuple()
    geometry = core._conv_geometry(layer)

    def run(x_in, w_in):
        return zero_skip.zero_skip_conv(x_in, w_in, geometry, tiling, 16, threshold, 1, 16, True)

    gemm = run(x, w)
    loop = run(x.astype(np.float32), w.astype(np.float32))
    for got, expected in zip(gemm, loop, strict=True):
        np.testing.assert_array_equal(got, expected)
    kept = np.where(np.abs(x.astype(np.int32)) > threshold, x, 0).astype(np.int16)
    np.testing.assert_array_equal(gemm[0], _reference_sums(layer, kept, w))


THREAD_SETUP = """
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests.test_diannao import MIXED
network = network_from_dict(MIXED, "mixed")
tensors = make_tensors(network, 2)
"""
THREAD_CONFIGS = ("diannao", "dadiannao", "cnvlutin")


def test_tables_and_outputs_do_not_depend_on_the_thread_count():
    one, two = (run_digests(THREAD_CONFIGS, THREAD_SETUP, n) for n in (1, 2))
    assert len(one) == len(THREAD_CONFIGS)
    assert one == two


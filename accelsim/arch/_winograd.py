"""Winograd convolution on the DianNao-class cores (``core_params.conv_algorithm``; issue 25).

``winograd_f2`` / ``winograd_f4`` run a 3x3 stride-1 conv as F(2x2,3x3) / F(4x4,3x3) (Lavin
and Gray, CVPR 2016; matrices and arithmetic in :mod:`accelsim.kernels.winograd`). Where each
step runs, and what it costs (our mapping; the DianNao papers predate Winograd):

* filter transform ``U = G g G^T``: offline, once per layer (inference weights are fixed, as
  Lavin notes); ``U`` is rounded to 16 bits at its own frac (the largest magnitude fills 15
  bits, as every fixed16 tensor in accelsim) and stored in DRAM: ``a**2`` words per
  filter-channel pair instead of 9 (``a = m + 2``: 16/9 more for F2, 4x for F4), in DRAM
  traffic, SB fills and SB capacity (the direct tiler runs with SB 9/``a**2`` its size);
* input transform ``V = B^T d B``: a transform unit beside NBin, between NBin and NFU-1. It
  reads the raw NBin rows of an ``a x a`` patch and hands NFU-1 one transformed row of ``ti``
  channels a cycle, so NBin reads stay one a cycle. It is pipelined with enough shift-add
  adders to keep pace (``ti * 2 * adds(B^T) / a`` a cycle: 32 for F2, 96 for F4 at ti 16),
  so it adds a pipeline stage, not cycles; it has no storage, so every output block
  re-transforms the patch. ``V`` is exact in the unit's wider adders, then rounded to 16
  bits at a frac set by the layer's largest ``|V|`` (F2 grows by up to 4x, F4 by 100x);
* element-wise products on the NFU: for each of the ``a**2`` positions, NFU-1 multiplies a
  row of ``ti`` channels of ``V`` by an SB row of ``tn x ti`` values of ``U`` and NFU-2 sums
  over channels (Lavin's GEMM formulation), so a Winograd tile costs ``a**2`` cycles per
  ``ti``-channel row group where direct conv spends ``9 m**2``; a partial tile at the
  layer's edge costs as much as a full one. Spatial tiles are whole ``m x m`` tiles (the
  fewest that fit NBin and NBout), with the direct tiler's chunk, loop order and residency
  for SB holding the transformed filters;
* inverse transform ``A^T M A``: a unit after NFU-2, once per tile, output channel and
  channel chunk (it is linear, so chunks' partial outputs add up in NBout as direct conv's
  partial sums do); exact (``A`` has integer entries); one more pipeline stage.

Transform adds are counted as ``input_transform`` / ``output_transform`` ``op`` events,
priced as one add each (``logic``: the 16-bit add of :mod:`accelsim.cost.energy`; override
with ``energy_pj``).

Outputs: the ``U`` x ``V`` sums are exact integers, so the only error Winograd adds is the
rounding of ``U`` and ``V``. Each Winograd layer also computes direct conv on the same inputs
and reports ``winograd_max_abs_error`` (real units), ``winograd_rel_error`` (over the direct
output's largest magnitude) and ``winograd_error_bound``, the bound the roundings allow.

Runs direct (``conv_algorithm`` = ``direct`` in the table, the reason in ``mapping``): fc,
kernels other than 3x3, stride > 1, grouped / depthwise convs, conv3d frames, layers whose
tiles would need no fewer multiplies (tiny outputs), and layers whose transformed filters or
tiles fit no buffer (F4 on DianNao: 16 x 16 channels x 36 words exceed a 16 KB SB slot, a
6x6 patch of 16 channels a 512-word NBin slot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from accelsim import fixedpoint
from accelsim.arch import base
from accelsim.arch._nfu_tiling import ConvTiling, NfuShape, block_unions, conv_tiling
from accelsim.cost.energy import Component
from accelsim.errors import ConfigError, MappingError
from accelsim.kernels import dense, dense_gemm, winograd
from accelsim.workload.layer import Layer

TILE_SIZE = {"winograd_f2": 2, "winograd_f4": 4}
TRANSFORM_STAGES = 2
"""Pipeline stages the input and inverse transform units add (drained once per layer)."""


@dataclass(frozen=True)
class WinogradTiling(ConvTiling):
    """A direct tiling (all three kernel rows at once) with spatial tiles of whole ``m x m``
    Winograd tiles; ``estimated_dram_bytes`` is the direct tiler's estimate."""

    m: int = 2

    def describe(self) -> str:
        return f"{super().describe()} winograd F({self.m}x{self.m},3x3)"


def components(core) -> list[Component]:
    """The transform units when a Winograd mode is on; ConfigError if the core cannot run
    it (fp32, or with Minerva's steps, whose effects on transformed operands are not
    modelled)."""
    arch, algorithm = core.arch, core.params.conv_algorithm
    if algorithm == "direct":
        return []
    where = f"{arch.origin or arch.name}: core_params.conv_algorithm: {algorithm}"
    if arch.precision != "fixed16":
        raise ConfigError(f"{where} is modelled in fixed16 only (precision: "
                          f"{arch.precision}); use direct")
    minerva = getattr(core, "minerva", None)
    if minerva is not None and minerva.active:
        raise ConfigError(f"{where} with Minerva's predication or SRAM faults is not "
                          "modelled; use direct, or turn those off")
    return [Component("input_transform", "logic"), Component("output_transform", "logic")]


def value_key(params) -> tuple:
    """Winograd's roundings change outputs."""
    algorithm = params.conv_algorithm
    return () if algorithm == "direct" else (("conv_algorithm", algorithm),)


def tiling(layer: Layer, shape: NfuShape, algorithm: str) -> WinogradTiling | None:
    """The layer's Winograd tiling, or None if it runs direct."""
    found = plan(layer, shape, algorithm)
    return found if isinstance(found, WinogradTiling) else None


def plan(layer: Layer, shape: NfuShape, algorithm: str) -> WinogradTiling | str | None:
    """The layer's Winograd tiling, the reason it runs direct, or None (direct mode or a
    layer without weights)."""
    if algorithm == "direct" or not layer.has_weights:
        return None
    m = TILE_SIZE[algorithm]
    reason = _inapplicable(layer, m)
    return reason if reason else _tiling(layer, shape, m)


def _inapplicable(layer: Layer, m: int) -> str | None:
    if layer.kind != "conv":
        return f"{layer.kind} layer"
    if "@t" in layer.name:   # accelsim.workload.volume.conv_frame_layer's frames
        return "a conv3d frame (per-frame error columns are not combined)"
    if (layer.kernel_h, layer.kernel_w) != (3, 3):
        return f"{layer.kernel_h}x{layer.kernel_w} kernel"
    if layer.stride != (1, 1):
        return f"stride {layer.stride[0]}x{layer.stride[1]}"
    if layer.groups > 1:
        return f"{layer.groups} groups"
    alpha = m + 2
    tiles = -(-layer.out_h // m) * -(-layer.out_w // m)
    if tiles * alpha * alpha >= 9 * layer.out_h * layer.out_w:
        return f"{layer.out_h}x{layer.out_w} output: Winograd tiles need no fewer multiplies"
    return None


@lru_cache(maxsize=4096)
def _tiling(layer: Layer, shape: NfuShape, m: int) -> WinogradTiling | str:
    """The direct tiler's choice (chunk, loop order, residency) for SB holding the
    transformed filters, with the spatial tile re-chosen in whole ``m x m`` tiles: the
    fewest spatial tiles (then the largest) whose positions fit NBout and whose input patch
    fits NBin."""
    alpha2 = (m + 2) ** 2
    try:   # the transformed filters take a**2 / 9 the SB words of the raw ones
        direct = conv_tiling(layer, replace(shape, sb_words=shape.sb_words * 9 // alpha2))
    except MappingError:
        return "the transformed filters fit no SB slot"
    if direct.kr < layer.kernel_h:
        return "the transformed filters of a whole window fit no SB slot"
    p, q = layer.out_h, layer.out_w
    max_positions = shape.nbout_words // shape.tn
    channels = layer.in_channels if direct.x_res == 1 else direct.chunk
    best = None
    for th in sorted({p, *range(m, p, m)}):
        for tw in sorted({q, *range(m, q, m)}):
            if th * tw > max_positions or (direct.x_res != 2 and (th + 2) * (tw + 2)
                                           * channels > shape.nbin_words):
                break
            key = (-(-p // th) * -(-q // tw), -th * tw)
            if best is None or key < best[0]:
                best = (key, th, tw)
    if best is None:
        return f"no spatial tile of whole {m}x{m} tiles fits NBin / NBout"
    (n_st, _), th, tw = best
    n_tiles = sum(n_st * -(-u // direct.chunk) for u in block_unions(layer, shape.tn))
    return WinogradTiling(direct.order, th, tw, direct.kr, direct.chunk, direct.w_res,
                          direct.x_res, n_tiles, direct.estimated_dram_bytes, m)


def mark_direct(core, layer: Layer, run: base.LayerRun) -> base.LayerRun:
    """In a Winograd mode, a conv / fc layer that ran direct says so, and why."""
    found = plan(layer, core.shape, core.params.conv_algorithm)
    if isinstance(found, str):
        run.stats.update({"conv_algorithm": "direct", "winograd_tiles": 0,
                          "winograd_max_abs_error": 0.0, "winograd_rel_error": 0.0,
                          "winograd_error_bound": 0.0})
        run.mapping += f" (direct: {found})"
    return run


# ---- a Winograd layer ------------------------------------------------------------------
def compute(core, layer: Layer, x: fixedpoint.Fixed, weights: fixedpoint.Fixed, bias,
            tiling: WinogradTiling, n_steps: int) -> base.LayerRun:
    """Outputs, counts and error columns of a Winograd layer. Values are always computed
    (the error columns need them), also when the core is only asked to count."""
    m, p, q = tiling.m, layer.out_h, layer.out_w
    top, left, bottom, right = layer.pad
    x_hwc = np.ascontiguousarray(np.pad(x.q, ((0, 0), (top, bottom), (left, right)))
                                 .transpose(1, 2, 0))
    u = _rounded_filters(weights, m)
    v_exact = winograd.input_transform(x_hwc, m, -(-p // m), -(-q // m))
    v, v_shift = _rounded_inputs(v_exact, x.frac)
    del v_exact
    sums = winograd.winograd_sums(u.q, v.q.astype(np.float64), m, p, q)
    output = core._conv_output(layer, sums, v, u, bias)
    direct = core._conv_output(layer, dense_gemm.conv_sums(x_hwc, weights.q, (1, 1)), x,
                               weights, bias)
    counts, totals = _counts(core, layer, x_hwc, weights, tiling, n_steps)
    named = core._named_counts(counts)
    named[("nfu", "mac")] = int(totals[winograd.MULTIPLIES])
    in_adds, out_adds = winograd.transform_adds(m)
    named.add("input_transform", "op", int(totals[winograd.INPUT_TILES]) * in_adds)
    named.add("output_transform", "op", int(totals[winograd.OUTPUT_TILES]) * out_adds)
    error = np.abs(output.to_float() - direct.to_float())
    peak = float(np.abs(direct.to_float()).max(initial=0.0))
    max_error = float(error.max(initial=0.0))
    stats = {"conv_algorithm": core.params.conv_algorithm,
             "winograd_tiles": int(totals[winograd.TILES]),
             "winograd_max_abs_error": max_error,
             "winograd_rel_error": max_error / peak if peak else 0.0,
             "winograd_error_bound": _error_bound(m, u, v, v_shift, bias, (output, direct),
                                                  (u.frac + v.frac, x.frac + weights.frac))}
    return base.LayerRun(output=output, work=core._tile_work(counts), counts=named,
                         mapping=tiling.describe(), tiles=tiling.n_tiles, stats=stats)


def _rounded_filters(weights: fixedpoint.Fixed, m: int) -> fixedpoint.Fixed:
    """``G g G^T`` rounded half up to int16 codes at the frac its peak allows, from the
    exact integer ``G g G^T * den**2`` (F4's ``G`` has 1/6 and 1/24: no binary frac holds
    them exactly). a**2 x K x C."""
    den2 = winograd.matrices(m)[2] ** 2
    exact = winograd.filter_transform(weights.q, m)
    peak = float(np.abs(exact).max(initial=0)) * 2.0 ** -weights.frac / den2
    frac = fixedpoint.frac_bits_for(peak)
    shift = frac - weights.frac          # codes = exact * 2**shift / den2
    numerator = exact << max(shift, 0)
    denominator = den2 << max(-shift, 0)
    codes = (2 * numerator + denominator) // (2 * denominator)
    return _saturated(codes, frac)


def _rounded_inputs(v_exact: np.ndarray, frac: int) -> tuple[fixedpoint.Fixed, int]:
    """``B^T d B`` (exact integers at the input's frac) rounded half up to int16 codes at
    the frac the layer's largest ``|V|`` allows; and how many bits were dropped."""
    peak = int(np.abs(v_exact).max(initial=0.0))
    shift = max(peak.bit_length() - 15, 0)
    codes = np.floor((v_exact + (2.0 ** (shift - 1) if shift else 0.0)) / 2.0 ** shift)
    return _saturated(codes, frac - shift), shift


def _saturated(codes: np.ndarray, frac: int) -> fixedpoint.Fixed:
    over = int(np.count_nonzero((codes > fixedpoint.Q_MAX) | (codes < fixedpoint.Q_MIN)))
    q = np.clip(codes, fixedpoint.Q_MIN, fixedpoint.Q_MAX).astype(np.int16)
    return fixedpoint.Fixed(q, frac, over)


def _counts(core, layer: Layer, x_hwc, weights, tiling: WinogradTiling, n_steps: int):
    """The dense loop nest's DMA and buffer counts on the Winograd tiles, with the NFU
    cycles of :func:`accelsim.kernels.winograd.tile_counts`, ``a**2`` synapses per
    filter-channel pair, and the transform stages in the pipeline drain."""
    params, alpha2 = core.params, (tiling.m + 2) ** 2
    n_ic = max(-(-u // tiling.chunk) for u in block_unions(layer, params.outputs_per_cycle))
    table, totals = winograd.tile_counts(
        layer.out_h, layer.out_w, tiling.th, tiling.tw, tiling.m, layer.out_channels,
        params.outputs_per_cycle, params.ti, layer.out_channels_per_group,
        layer.in_channels_per_group, tiling.chunk, n_ic)
    _, counts = dense.conv_tiles(x_hwc, weights.q, core._conv_geometry(layer),
                                 tiling.as_tuple(), n_steps, tiling.n_tiles, compute=False,
                                 sb_lanes=params.tn, tile_cycles=table)
    for column in (dense.W_BYTES, dense.W_FILL):   # 9 per pair, whole windows (kr = 3)
        if (counts[:, column] % 9).any():
            raise AssertionError("Winograd: synapse counts not in whole 3x3 windows")
        counts[:, column] = counts[:, column] // 9 * alpha2
    if params.neurons_resident and tiling.order != 2 and core._neurons_fit(layer):
        counts[:, [dense.IN_BYTES, dense.IN_FILL, dense.OUT_BYTES]] = 0
    blocks = -(-layer.out_channels // params.outputs_per_cycle)
    sb_words = int(core.arch.buffers["sb"].size_kib * 1024) // core.word_bytes
    if params.weights_resident and blocks * params.tn * layer.in_channels * alpha2 <= sb_words:
        counts[:, [dense.W_BYTES, dense.W_FILL]] = 0
    counts[-1, dense.CYCLES] += TRANSFORM_STAGES
    return counts, totals


def _error_bound(m: int, u, v, v_shift: int, bias, outputs, acc_fracs) -> float:
    """Largest ``|Winograd output - direct output|`` the roundings allow, real units.

    ``U`` and ``V`` are off by at most half a code (a full code where a value saturated;
    ``V`` is exact when no bit was dropped), so each channel-summed product is off by at most
    ``dV sum|U| + dU sum|V| + C dU dV`` (largest sums over the layer), and the inverse
    transform multiplies that by ``(max row sum |A^T|)**2``. Each output then adds its own
    rounding: half a step of its bias's frac (a whole one when the sums were rounded to it
    first, :func:`accelsim.fixedpoint.with_bias`) and half an output step (a whole one if
    any output saturated).
    """
    step_u = 2.0 ** -u.frac * (1.0 if u.saturated else 0.5)
    step_v = 2.0 ** -v.frac * (1.0 if v.saturated else 0.5) if v_shift else 0.0
    sum_u = float(np.abs(u.q.astype(np.float64)).sum(axis=2).max(initial=0.0)) * 2.0 ** -u.frac
    sum_v = float(np.abs(v.q.astype(np.float64)).sum(axis=1).max(initial=0.0)) * 2.0 ** -v.frac
    reach = float(np.abs(winograd.matrices(m)[3]).sum(axis=1).max()) ** 2
    channels = u.q.shape[2]
    bound = reach * (step_v * sum_u + step_u * sum_v + channels * step_u * step_v)
    bias_peak = float(np.max(np.abs(bias))) if np.size(bias) else 0.0
    for output, acc_frac in zip(outputs, acc_fracs, strict=True):
        bias_frac = acc_frac if bias_peak == 0 else min(
            acc_frac, fixedpoint.BIAS_CODE_BITS - math.frexp(bias_peak)[1])
        bias_steps = 0.5 if bias_frac == acc_frac else 1.0   # and the sums' own rounding
        bound += (bias_steps * 2.0 ** -bias_frac
                  + (1.0 if output.saturated else 0.5) * 2.0 ** -output.frac)
    return bound

"""Bit-Pragmatic: essential bits through the 2-stage shifter, pallet and per-column sync.

Expected cycles are worked out by hand from the rules in the paper's terms (a brick costs
its activations' terms, at least 1 cycle; a lane's first-stage shifter reaches
``2**L - 1`` above the column's common offset; pallets wait for their slowest column).
"""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.arch import pragmatic
from accelsim.config import load_arch, with_overrides
from accelsim.errors import ConfigError
from accelsim.fixedpoint import Fixed, quantize
from accelsim.kernels import bit_serial
from accelsim.workload import Layer
from accelsim.workload.precision import LayerPrecision
from accelsim.workload.tensors import make_tensors
from accelsim.workload.transforms import apply_transform, parse_transform
from tests.test_stripes import BITS, SMALL


def _core(**overrides) -> pragmatic.Core:
    arch = with_overrides(load_arch("pragmatic"),
                          {f"core_params.{k}": v for k, v in overrides.items()})
    core = pragmatic.Core(arch)
    core.layer_precision = {}
    return core


def _cycles(core, x_codes: np.ndarray, kernel: int = 1, out_channels: int = 16) -> int:
    c, h, w = x_codes.shape
    layer = Layer(name="conv", kind="conv", in_channels=c, in_h=h, in_w=w,
                  out_channels=out_channels, kernel_h=kernel, kernel_w=kernel,
                  inputs=("prev",))
    weights = quantize(np.ones(layer.weight_shape, np.float32))
    run = core.run_layer(layer, [Fixed(x_codes.astype(np.int16), 10)], weights,
                         np.zeros(out_channels, np.float32))
    return int(run.work.compute_cycles.sum()) - 2   # less the pipeline drain


@pytest.mark.parametrize("values, reach_bits, expected", [
    ([0b1011] * 16, 4, 3),            # three terms each, any shifter: 3 cycles
    ([0b1, 0b1000], 4, 1),            # one term each: 1 cycle with a full shifter
    ([0b1, 0b1000], 2, 1),            # bit 3 is within 0 + 3 of the common offset 0
    ([0b1, 0b1000], 1, 2),            # ... but not within 0 + 1: a second cycle
    ([0b1, 0b1000], 0, 2),
    ([0b101, 0b10000], 2, 2),         # offset 0: lane 0 bit 0 (lane 1's bit 4 too far);
                                      # offset 2: lane 0 bit 2, lane 1 bit 4
    ([0, 0], 2, 1),                   # nothing to do still fetches the brick
])
def test_brick_cycles_by_hand(values, reach_bits, expected):
    masks = np.array([bit_serial.term_mask(v, False) for v in values], dtype=np.int64)
    assert bit_serial.brick_cycles(masks, len(values), reach_bits) == expected


def test_signed_digits_turn_runs_of_ones_into_two_terms():
    assert bin(bit_serial.term_mask(0b0111_1111, True)) == bin(0b1000_0001)
    assert bin(bit_serial.term_mask(0b1011, True)) == bin(0b10101)   # 11 = 16 - 4 - 1
    assert bit_serial.term_mask(-6, False) == 6


@pytest.mark.parametrize("value, terms", [(0, 1), (1, 1), (0b111, 3), (0b1010_1010, 4)])
def test_layer_cycles_scale_with_essential_bits(value, terms):
    """Every activation equal: 4 x 4 outputs = one group of 16 windows, 1 x 1 kernel, 2
    bricks: 2 steps of ``terms`` cycles, whatever the synchronisation."""
    x = np.full((32, 4, 4), value)
    for registers in (0, 1, 3):
        core = _core(column_registers=registers, first_stage_bits=4)
        assert _cycles(core, x) == 2 * terms


def test_pallet_waits_for_the_slowest_column_and_registers_let_columns_run_ahead():
    """Two windows (1 x 2 outputs), two bricks each: column 0 has terms 3 then 1, column 1
    has 1 then 3. Pallet sync: 3 + 3 = 6 cycles; one register per column: each column
    finishes its own 3 + 1 = 4 cycles."""
    x = np.zeros((32, 1, 2))
    x[:16, 0, 0], x[16:, 0, 0] = 0b111, 0b1
    x[:16, 0, 1], x[16:, 0, 1] = 0b1, 0b111
    assert _cycles(_core(column_registers=0, first_stage_bits=4), x) == 6
    assert _cycles(_core(column_registers=1, first_stage_bits=4), x) == 4


def test_the_first_stage_reach_costs_cycles_on_real_layers():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2 ** 12, size=(32, 8, 8))
    by_reach = [_cycles(_core(first_stage_bits=bits), x, kernel=3) for bits in (0, 2, 4)]
    assert by_reach[0] > by_reach[1] >= by_reach[2]
    pallet = _cycles(_core(first_stage_bits=2, column_registers=0), x, kernel=3)
    assert pallet >= by_reach[1]


def test_outputs_are_dadiannaos_and_counts_hold_invariants():
    tensors = apply_transform(SMALL, make_tensors(SMALL, 4), parse_transform(BITS))
    runs = {name: simulate(name, SMALL, tensors=tensors, keep_outputs=True)
            for name in ("dadiannao", "pragmatic", "stripes")}
    for name in ("c1", "c2", "g3", "mp", "fc"):
        np.testing.assert_array_equal(runs["dadiannao"].outputs[name].q,
                                      runs["pragmatic"].outputs[name].q, err_msg=name)
    rows = runs["pragmatic"].layers.set_index("layer")
    stripes_rows = runs["stripes"].layers.set_index("layer")
    for name, bits in (("c1", 9), ("c2", 5), ("g3", 3)):
        assert rows.loc[name, "pip_mac"] == rows.loc[name, "macs"]
        assert 0 < rows.loc[name, "terms_per_activation"] <= bits
        # a p-bit activation has at most p terms: never slower than Stripes at p bits
        assert rows.loc[name, "cycles"] <= stripes_rows.loc[name, "cycles"]
    assert rows.loc["fc", "cycles"] == runs["dadiannao"].layers.set_index(
        "layer").loc["fc", "cycles"]


def test_essential_bits_are_counted_from_the_real_activations():
    """pip op = terms of every activation a window reads x the filters reading it."""
    x = np.zeros((16, 3, 3))
    x[0, 1, 1] = 0b1011   # the centre: read by every window of a 3 x 3, pad-1 conv
    layer = Layer(name="conv", kind="conv", in_channels=16, in_h=3, in_w=3,
                  out_channels=16, kernel_h=3, kernel_w=3, pad=(1, 1, 1, 1), inputs=("p",))
    core = _core()
    run = core.run_layer(layer, [Fixed(x.astype(np.int16), 8)],
                         quantize(np.ones(layer.weight_shape, np.float32)),
                         np.zeros(16, np.float32))
    assert run.counts["pip", "op"] == 3 * 9 * 16   # 3 terms, 9 windows, 16 filters


def test_bad_switches_name_the_key():
    for key, value in (("first_stage_bits", 5), ("column_registers", -1),
                       ("signed_digits", 2)):
        with pytest.raises(ConfigError, match=key):
            with_overrides(load_arch("pragmatic"), {f"core_params.{key}": value})


def test_precision_profile_trims_the_terms():
    x = np.full((16, 4, 4), 0b0111_1111_1111_111)   # 14 ones in 15 bits
    core = _core(first_stage_bits=4)
    full = _cycles(core, x)
    core.layer_precision = {"conv": LayerPrecision(activations=4)}
    from accelsim.workload.precision import quantize_activations

    trimmed = quantize_activations(Fixed(x.astype(np.int16), 10), 4).q
    assert _cycles(core, trimmed) < full


def _reference_tables(x, geometry, tiling, params):
    """The tile rule of ``kernels/bit_serial.py`` in plain Python, every brick of every
    window worked out where it is read (no table): cycles and steps per tile."""
    cg, mg, m_total, kh, kw, sh, sw, _, _, tn, ti, windows, packed_rows = geometry
    th, tw, kr, chunk = tiling
    mode, bits, first_stage_bits, signed, registers = params
    p_out, q_out = (x.shape[0] - kh) // sh + 1, (x.shape[1] - kw) // sw + 1
    n_ob, n_kc = -(-m_total // tn), -(-kh // kr)
    n_ty, n_tx = -(-p_out // th), -(-q_out // tw)

    def brick(values):
        if mode == bit_serial.STRIPES:
            return bits
        masks = np.array([bit_serial.term_mask(int(v), bool(signed)) for v in values] or [0],
                         dtype=np.int64)
        return bit_serial.brick_cycles(masks, len(values), first_stage_bits)

    tiles = {}
    for ob in range(n_ob):
        m0, m1 = ob * tn, min(ob * tn + tn, m_total)
        u0, u1 = (m0 // mg) * cg, ((m1 - 1) // mg + 1) * cg
        for st in range(n_ty * n_tx):
            oy0, ox0 = (st // n_tx) * th, (st % n_tx) * tw
            spots = [(oy, ox) for oy in range(oy0, min(oy0 + th, p_out))
                     for ox in range(ox0, min(ox0 + tw, q_out))]
            for kc in range(n_kc):
                for ic in range(-(-(u1 - u0) // chunk)):
                    c0 = u0 + ic * chunk
                    c1 = min(c0 + chunk, u1)
                    packed = packed_rows and c1 - c0 < ti
                    finish, history, step = [0] * windows, [0] * (registers + 1), 0
                    for g0 in range(0, len(spots), windows):
                        group = spots[g0:g0 + windows]
                        for ky in range(kc * kr, min(kc * kr + kr, kh)):
                            if packed:
                                runs = [x[oy * sh + ky, ox * sw:ox * sw + kw, c0:c1].ravel()
                                        for oy, ox in group]
                                n_bricks = -(-kw * (c1 - c0) // ti)
                                cols = [[brick(r[j * ti:j * ti + ti]) for r in runs]
                                        for j in range(n_bricks)]
                            else:
                                cols = [[brick(x[oy * sh + ky, ox * sw + kx, c:min(c + ti, c1)])
                                         for oy, ox in group]
                                        for kx in range(kw) for c in range(c0, c1, ti)]
                            for cycles in cols:
                                start = history[step % (registers + 1)]
                                for c, n in enumerate(cycles):
                                    finish[c] = max(start, finish[c]) + n
                                history[step % (registers + 1)] = max(finish)
                                step += 1
                    tiles[ob, st, kc, ic] = (max(finish), step)
    return tiles


@pytest.mark.parametrize("seed", range(6))
def test_brick_tables_equal_the_rule_worked_out_brick_by_brick(seed):
    """The tables look each brick up once (issue 22); on random layers (groups, strides,
    packed window rows, row chunks, zero densities 0-100 %) every tile's cycles and steps
    must be the rule's, worked out at every read."""
    rng = np.random.default_rng(seed)
    c = int(rng.choice([3, 20, 24]))
    groups = int(rng.choice([g for g in (1, 2, 4) if c % g == 0]))
    m = groups * int(rng.integers(2, 9))
    (kh, kw), (sh, sw) = rng.integers(1, 4, 2).tolist(), rng.integers(1, 3, 2).tolist()
    h, w = int(rng.integers(kh, 9)), int(rng.integers(kw, 9))
    x = rng.integers(-2 ** 15, 2 ** 15, (h, w, c)).astype(np.int16)
    x[rng.random(x.shape) < (0.0, 0.15, 0.5, 1.0, 0.3, 0.7)[seed]] = 0
    geometry = (c // groups, m // groups, m, kh, kw, sh, sw, 0, w, 4, 8, 3, seed % 2)
    p_out, q_out = (h - kh) // sh + 1, (w - kw) // sw + 1
    tiling = (int(rng.integers(1, p_out + 1)), int(rng.integers(1, q_out + 1)),
              int(rng.integers(1, kh + 1)), int(rng.choice([8, 16])))
    for params in ((bit_serial.PRAGMATIC, 16, 2, 0, 1), (bit_serial.PRAGMATIC, 16, 0, 1, 0),
                   (bit_serial.PRAGMATIC, 16, 4, 0, 3), (bit_serial.STRIPES, 7, 4, 0, 0)):
        cycles, steps = bit_serial.conv_tile_tables(x, geometry, tiling, params)
        expected = _reference_tables(x, geometry, tiling, params)
        assert {key: (int(cycles[key]), int(steps[key])) for key in expected} == expected
        assert np.count_nonzero(steps) == len(expected)   # no tile beyond the rule's


@pytest.mark.parametrize("signed", [False, True])
def test_window_terms_sum_every_window_read(signed):
    """Terms weighted by the windows covering each pixel = the terms of every read."""
    rng = np.random.default_rng(8)
    x = rng.integers(-2 ** 15, 2 ** 15, (9, 8, 5)).astype(np.int16)
    x[rng.random(x.shape) < 0.3] = 0
    for kh, kw, stride in ((3, 3, (1, 1)), (2, 3, (2, 1)), (1, 1, (3, 2))):
        terms = np.vectorize(lambda v: bin(bit_serial.term_mask(int(v), signed)).count("1"))(x)
        p_out, q_out = (9 - kh) // stride[0] + 1, (8 - kw) // stride[1] + 1
        expected = sum(terms[oy * stride[0] + ky, ox * stride[1] + kx]
                       for oy in range(p_out) for ox in range(q_out)
                       for ky in range(kh) for kx in range(kw))
        np.testing.assert_array_equal(bit_serial.window_terms(x, kh, kw, stride, signed),
                                      expected)

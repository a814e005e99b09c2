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
    assert bit_serial.brick_cycles(masks, len(values), reach_bits,
                                   bit_serial.LOWEST_BIT) == expected


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

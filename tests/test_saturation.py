"""Values that do not fit 16 bits are counted, per tensor and per layer, never hidden."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from accelsim import fixedpoint, simulate
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference


def test_quantize_counts_values_that_round_past_the_top():
    # 1 - 2**-17 has exponent 0 (frac 15) but rounds to 2**15: one saturated value each.
    x = np.array([1 - 2.0 ** -17, -(1 - 2.0 ** -17), 0.5, 1 - 2.0 ** -15], dtype=np.float64)
    fixed = fixedpoint.quantize(x)
    assert fixed.frac == 15
    np.testing.assert_array_equal(fixed.q, [32767, -32768, 16384, 32767])
    assert fixed.saturated == 1   # -2**15 fits; +2**15 does not
    assert fixedpoint.quantize(np.array([0.75, -0.5])).saturated == 0


def test_requantize_counts_what_the_output_stage_clips():
    # bitlen(2**16 - 1) = 16: shift 1, and (2**16 - 1 + 1) >> 1 = 2**15 saturates.
    acc = np.array([2 ** 16 - 1, 2 ** 16 - 3, -(2 ** 16 - 1), 5], dtype=np.int64)
    out = fixedpoint.requantize(acc, 20, relu=False)
    independent = np.floor(acc / 2.0 + 0.5)
    assert out.saturated == int(np.count_nonzero(np.abs(independent) > 32767.5)) == 1
    assert out.q[0] == 32767 and out.frac == 19
    assert out.with_codes(out.q[::-1]).saturated == 1   # laying out anew keeps the count
    assert fixedpoint.requantize(acc[1:2], 20, relu=False).saturated == 0


NET = network_from_dict({"name": "edge", "input": [4, 3, 3],
                         "layers": [{"name": "fc", "kind": "fc", "out_channels": 3}]}, "edge")


@pytest.mark.parametrize("config", ["diannao", "cnvlutin", "eyeriss", "systolic"])
def test_a_layer_row_reports_its_saturated_outputs(config):
    """Zero weights and a bias of (2**16 - 1) accumulator steps: the output stage must clip
    exactly one value, on every core's fc path."""
    tensors = make_tensors(NET, 0)
    input_frac = fixedpoint.quantize(tensors.input).frac
    weight_frac = fixedpoint.frac_bits_for(0.0)
    step = 2.0 ** -(input_frac + weight_frac)
    bias = np.array([(2 ** 16 - 1) * step, 0.0, -1000 * step], dtype=np.float32)
    tensors = replace(tensors, weights={"fc": np.zeros_like(tensors.weights["fc"])},
                      biases={"fc": bias})
    result = simulate(config, NET, tensors=tensors, keep_outputs=True)
    row = result.layers.set_index("layer").loc["fc"]
    assert row["saturated_values"] == 1
    assert result.summary["saturated_values"] == 1
    assert result.outputs["fc"].q.ravel()[0] == 32767
    clean = replace(tensors, biases={"fc": np.zeros(3, dtype=np.float32)})
    assert simulate(config, NET, tensors=clean).summary["saturated_values"] == 0


@pytest.mark.parametrize("config", ["diannao", "cnvlutin", "eyeriss", "systolic", "scnn",
                                    "sparten"])
def test_tiny_activations_with_a_bias_keep_the_bias(config):
    """Inputs of 1e-12 give the input 55 fraction bits, so a bias of 1 would need ~2**70 at
    the accumulator's frac: the sums are rounded to a frac that holds it (regression: the
    int64 codes overflowed and the output was -0.03 instead of the bias)."""
    tensors = make_tensors(NET, 0)
    bias = np.array([1.0, -0.5, 0.25], dtype=np.float32)
    tensors = replace(tensors, input=(tensors.input * 1e-12).astype(np.float32),
                      biases={"fc": bias})
    result = simulate(config, NET, tensors=tensors, keep_outputs=True)
    reference.check_outputs(NET, result, tensors, config)
    expected = (tensors.weights["fc"].reshape(3, -1).astype(np.float64)
                @ tensors.input.ravel().astype(np.float64) + bias)
    np.testing.assert_allclose(result.outputs["fc"].to_float().ravel(), expected, rtol=1e-4)

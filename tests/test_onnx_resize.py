"""Linear (bilinear) Resize from ONNX, as a U-Net / FPN decoder upsamples, in each coordinate
transform: a ``resize`` layer on the host unit, equal to ONNX Runtime and to the reference."""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.config import with_overrides
from accelsim.errors import WorkloadError
from accelsim.workload import load_tensors
from accelsim.workload.formats.onnx_model import import_onnx
from tests import reference
from tests.onnx_helpers import (
    CORES,
    GraphBuilder,
    assert_fp32_close,
    check_against_onnxruntime,
    cosine,
    final_outputs,
)

TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric")


def decoder(path, transform: str, sizes: bool = False):
    """Conv, a bilinear x2 (H) x3 (W) resize (scales, or sizes), a conv, a bilinear x2 of a
    1 x 1 map (each transform's edge case), added to the upsampled path."""
    g = GraphBuilder([1, 3, 5, 6], seed=17)
    x = g.node("Relu", [g.conv("x", 3, 6, 3, pads=[1, 1, 1, 1])])
    if sizes:
        up = g.node("Resize", [x, "", "", g.const(np.array([1, 6, 10, 18], np.int64))], "up",
                    mode="linear", coordinate_transformation_mode=transform)
    else:
        up = g.node("Resize", [x, "", g.const(np.array([1, 1, 2, 3], np.float32))], "up",
                    mode="linear", coordinate_transformation_mode=transform)
    y = g.conv(up, 6, 4, 3, pads=[1, 1, 1, 1], name="refine")
    pooled = g.node("GlobalAveragePool", [g.conv(x, 6, 4, 1)])
    spread = g.node("Resize", [pooled, "", g.const(np.array([1, 1, 10, 18], np.float32))],
                    "spread", mode="linear", coordinate_transformation_mode=transform)
    return g.save(g.node("Add", [y, spread], "out"), path, opset=13)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resize")
    built = {t: decoder(folder / f"{t}.onnx", t) for t in TRANSFORMS}
    built["sizes"] = decoder(folder / "sizes.onnx", "align_corners", sizes=True)
    return built


@pytest.mark.parametrize("name", [*TRANSFORMS, "sizes"])
def test_every_layer_matches_onnxruntime(models, name):
    network = import_onnx(models[name]).network
    resizes = [layer for layer in network.layers if layer.kind == "resize"]
    assert [layer.scale for layer in resizes] == [(2, 3), (10, 18)]
    assert max(check_against_onnxruntime(models[name]).values()) < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "fixed16"])
@pytest.mark.parametrize("core", CORES)
def test_each_core_matches_onnxruntime_and_the_reference(models, core, precision):
    ours, theirs, result = final_outputs(models["half_pixel"], core, precision, seed=0)
    if precision == "fp32":
        assert_fp32_close(ours, theirs)
    else:
        assert cosine(ours, theirs) >= 0.999
    rows = result.layers.set_index("layer")
    assert rows.loc["up", "ran_on"] == "host" and rows.loc["up", "ops"] == 6 * 6 * 10 * 18
    network = import_onnx(models["align_corners"]).network
    tensors = load_tensors(network, seed=0)
    arch = with_overrides(accelsim.load_arch(core), {"precision": precision})
    run = accelsim.simulate(arch, network, tensors=tensors, keep_outputs=True)
    reference.check_outputs(network, run, tensors, f"{core} {precision}")


@pytest.mark.parametrize("scales, transform, needle", [
    ([1, 1, 1.5, 2], "half_pixel", "linear resizing by [1.5, 2.0]"),
    ([1, 1, 2, 2], "tf_crop_and_resize", "'tf_crop_and_resize' is not supported"),
])
def test_unsupported_linear_resizes_are_named(tmp_path, scales, transform, needle):
    g = GraphBuilder([1, 3, 4, 4])
    x = g.node("Resize", [g.conv("x", 3, 4, 1), "", g.const(np.array(scales, np.float32))],
               "bad_resize", mode="linear", coordinate_transformation_mode=transform)
    with pytest.raises(WorkloadError) as info:
        import_onnx(g.save(x, tmp_path / "bad.onnx"))
    message = str(info.value)
    assert "\n" not in message and "'bad_resize' (Resize)" in message and needle in message

"""3-D convolution and pooling (C3D's layers) run frame by frame on every core's 2-D path."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim import simulate
from accelsim.config import load_arch
from accelsim.errors import AccelsimError, WorkloadError
from accelsim.files import shipped
from accelsim.workload.forward import forward
from accelsim.workload.layer import Layer
from accelsim.workload.network import Network
from accelsim.workload.tensors import make_tensors
from tests import reference


def clip_network() -> Network:
    """A C3D-like stack on a 3 x 6-frame x 10 x 10 clip: 3x3x3 convs (one strided in time,
    one grouped), max pools in space only, in space and time (padded in time), an average
    pool over a whole 2 x 3 x 3 volume, and an fc layer on the flattened clip."""
    layers = [
        Layer("conv1", "conv3d", 3, 10, 10, 6, 3, 3, pad=(1, 1, 1, 1), relu=True,
              depth=(6, 3, 1, 1, 1), inputs=("input",)),
        Layer("pool1", "pool3d", 6, 10, 10, 6, 2, 2, stride=(2, 2), pool_op="max",
              depth=(6, 1, 1, 0, 0), inputs=("conv1",)),
        Layer("conv2", "conv3d", 6, 5, 5, 8, 3, 3, pad=(1, 1, 1, 1), groups=2, relu=True,
              depth=(6, 3, 2, 1, 1), inputs=("pool1",)),
        Layer("pool2", "pool3d", 8, 5, 5, 8, 2, 2, stride=(2, 2), pad=(0, 0, 1, 1),
              pool_op="max", depth=(3, 2, 2, 0, 1), inputs=("conv2",)),
        Layer("pool3", "pool3d", 8, 3, 3, 8, 3, 3, stride=(3, 3), pool_op="avg",
              depth=(2, 2, 2, 0, 0), inputs=("pool2",)),
        Layer("fc", "fc", 8, 1, 1, 5, 1, 1, inputs=("pool3",)),
    ]
    return Network("clip", (3, 60, 10), tuple(layers))


NETWORK = clip_network()


def test_shapes_and_work_of_the_3d_layers():
    conv1, conv2, pool2 = (NETWORK.layer(n) for n in ("conv1", "conv2", "pool2"))
    assert conv1.out_shape == (6, 60, 10) and conv1.weight_shape == (6, 3, 3, 3, 3)
    assert conv2.out_frames == 3 and conv2.out_shape == (8, 15, 5)
    assert pool2.out_frames == 2 and pool2.out_shape == (8, 6, 3)
    assert conv1.macs == 6 * 6 * 10 * 10 * 3 * 27
    assert pool2.ops == 8 * 2 * 3 * 3 * 2 * 2 * 2


@pytest.mark.parametrize("config", sorted(shipped("arch_configs")))
def test_3d_layers_match_the_reference_on_every_config(config):
    tensors = make_tensors(NETWORK, 2)
    result = simulate(load_arch(config), NETWORK, tensors=tensors, keep_outputs=True)
    reference.check_outputs(NETWORK, result, tensors, config)

    rows = result.layers.set_index("layer")
    volume = rows.loc[["conv1", "pool1", "conv2", "pool2", "pool3"]]
    assert volume["mapping"].str.startswith("3-D as ").all()
    assert (volume["ran_on"] == load_arch(config).core).all()
    assert (volume["cycles"] >= volume["ideal_cycles"]).all() and (volume["cycles"] > 0).all()


def test_the_float_pass_agrees_with_the_reference():
    tensors = make_tensors(NETWORK, 1)
    values = {"input": tensors.input}
    for layer, out in forward(NETWORK, tensors):
        ref = reference.run_layer(layer, [values[n] for n in layer.inputs],
                                  tensors.weights.get(layer.name),
                                  tensors.biases.get(layer.name), "fp32")
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
        values[layer.name] = out


def test_padding_frames_cost_no_macs():
    result = simulate("diannao", NETWORK, tensors=make_tensors(NETWORK, 0))
    row = result.layers.set_index("layer").loc["conv1"]
    # the first and last output frames see 2 real frames of 3 taps: 6 - 2/3 of the taps
    assert row["nfu_mac"] == NETWORK.layer("conv1").macs * (6 - 2 / 3) // 6


@pytest.mark.parametrize(("depth", "message"), [
    ((6, 3, 1, 3, 0), "must see a real frame"),
    ((6, 0, 1, 0, 0), "must be >= 1"),
    ((6, 3, 1), "5 integers"),
])
def test_bad_time_axes_are_refused(depth, message):
    with pytest.raises(WorkloadError, match=message):
        Layer("c", "conv3d", 3, 4, 4, 2, 3, 3, depth=depth, inputs=("input",))


def test_a_2d_layer_takes_no_depth_and_batches_refuse_3d():
    with pytest.raises(WorkloadError, match="depth"):
        Layer("c", "conv", 3, 4, 4, 2, 3, 3, depth=(2, 1, 1, 0, 0), inputs=("input",))
    with pytest.raises(AccelsimError, match="one clip at a time"):
        simulate("eyeriss", NETWORK, batch=2)


# ---- from ONNX ------------------------------------------------------------------------------
def c3d_block(path):
    """C3D's first stages on an 8-frame 16 x 16 clip: 3x3x3 convs, a (1, 2, 2) and a
    (2, 2, 2) max pool, BatchNormalization on the clip, a global pool and a classifier."""
    from tests.onnx_helpers import GraphBuilder

    g = GraphBuilder([1, 3, 8, 16, 16], seed=3)
    w1 = g.weights((8, 3, 3, 3, 3), 81)
    x = g.node("Relu", [g.node("Conv", ["x", w1, g.const(np.zeros(8, np.float32))],
                               "conv1a", pads=[1] * 6)], "relu1")
    x = g.node("MaxPool", [x], "pool1", kernel_shape=[1, 2, 2], strides=[1, 2, 2])
    x = g.node("Conv", [x, g.weights((12, 8, 3, 3, 3), 216)], "conv2a", pads=[1] * 6,
               strides=[2, 1, 1])
    x = g.node("Relu", [g.batch_norm(x, 12, "bn2")], "relu2")
    x = g.node("MaxPool", [x], "pool2", kernel_shape=[2, 2, 2], strides=[2, 2, 2])
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x], "gap")], "flatten")
    return g.save(g.node("Gemm", [x, g.weights((5, 12), 12)], "fc", transB=1), path)


def test_an_onnx_clip_network_matches_onnxruntime(tmp_path):
    from accelsim.workload.formats.onnx_model import import_onnx
    from tests.onnx_helpers import check_against_onnxruntime

    path = c3d_block(tmp_path / "c3d.onnx")
    network = import_onnx(path).network
    assert network.input_shape == (3, 8 * 16, 16)
    kinds = {layer.name: layer.kind for layer in network.layers}
    assert kinds["conv1a"] == "conv3d" and kinds["pool2"] == "pool3d" and kinds["gap"] == "pool3d"
    assert network.layer("conv2a").out_frames == 4 and "bn2" not in kinds   # folded into it
    assert max(check_against_onnxruntime(path, arch="dadiannao").values()) < 1e-4

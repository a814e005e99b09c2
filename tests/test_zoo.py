"""The shipped network zoo: every file loads, and shapes, MACs and weights match the papers.

Expected values are computed here from the published shape tables (published-anchors.md
section 13 and the papers' own tables), never from Layer.macs, and compared with the
published totals.
"""

from __future__ import annotations

import pytest

from accelsim.errors import WorkloadError
from accelsim.files import shipped
from accelsim.workload import INPUT, load_network

SHIPPED = sorted(shipped("workloads"))


def square_conv_macs(out_size: int, in_per_group: int, out_channels: int, kernel: int) -> int:
    """E^2 * M * C/G * R^2: one MAC per output element per weight it sees."""
    return out_size * out_size * out_channels * in_per_group * kernel * kernel


def conv_out_size(in_size: int, kernel: int, stride: int, pad_total: int) -> int:
    return (in_size + pad_total - kernel) // stride + 1


def parameter_count(network) -> int:
    """Weights plus one bias per output channel, as papers count parameters."""
    return sum(layer.weight_count + layer.out_channels
               for layer in network.layers if layer.kind in ("conv", "fc"))


def count_kinds(network) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for layer in network.layers:
        kinds[layer.kind] = kinds.get(layer.kind, 0) + 1
    return kinds


# ---- every shipped file -----------------------------------------------------------------

def test_the_zoo_is_complete():
    assert {"lenet5", "alexnet", "vgg16", "vgg19", "mobilenet_v1", "resnet18", "resnet50",
            "googlenet", "nin", "c3d"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_workload_loads_and_names_its_source(name):
    network = load_network(name)
    assert network.name == name
    assert len(network.source) > 40, "source: must cite the paper and table"
    assert network.macs > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_every_add_sums_two_tensors_of_equal_shape(name):
    network = load_network(name)
    shapes = {INPUT: tuple(network.input_shape)}
    for layer in network.layers:
        if layer.kind == "add":
            first, second = (shapes[producer] for producer in layer.inputs)
            assert first == second == layer.out_shape, layer.name
        shapes[layer.name] = layer.out_shape


@pytest.mark.parametrize("name", SHIPPED)
def test_every_concat_stacks_tensors_of_equal_height_and_width(name):
    network = load_network(name)
    shapes = {INPUT: tuple(network.input_shape)}
    for layer in network.layers:
        if layer.kind == "concat":
            stacked = [shapes[producer] for producer in layer.inputs]
            assert len(stacked) >= 2 and {shape[1:] for shape in stacked} == {layer.out_shape[1:]}
            assert sum(shape[0] for shape in stacked) == layer.out_channels, layer.name
        shapes[layer.name] = layer.out_shape


@pytest.mark.parametrize("name", SHIPPED)
def test_network_ends_in_a_1000_way_classifier_or_lenet_10(name):
    """An fc classifier (C3D's: Sports-1M's 487 classes), or NiN's: 1000 maps averaged by a
    global pool (no fc layer)."""
    last = load_network(name).layers[-1]
    assert last.out_shape in ((1000, 1, 1), (10, 1, 1), (487, 1, 1))
    assert (last.out_shape == (487, 1, 1)) == (name == "c3d")
    assert last.kind == "fc" or (name == "nin" and last.kind == "pool"
                                 and last.pool_op == "avg")
    assert not last.relu


# ---- malformed residuals ------------------------------------------------------------------

@pytest.mark.parametrize("branch, producer", [
    ("{name: b, kind: conv, out_channels: 8, kernel: 1, inputs: [input]}", "'b'"),
    ("{name: b, kind: conv, out_channels: 4, kernel: 1, stride: 2, inputs: [input]}", "'b'"),
])
def test_add_of_unequal_shapes_names_the_file(tmp_path, branch, producer):
    path = tmp_path / "bad_residual.yaml"
    path.write_text(
        "version: 1\nname: bad\ninput: [4, 8, 8]\nlayers:\n"
        "  - {name: a, kind: conv, out_channels: 4, kernel: 3, pad: 1}\n"
        f"  - {branch}\n"
        "  - {name: sum, kind: add, inputs: [a, b]}\n")
    with pytest.raises(WorkloadError) as caught:
        load_network(path)
    message = str(caught.value)
    assert str(path) in message and "'sum'" in message and producer in message
    assert "\n" not in message


# ---- AlexNet (grouped, Eyeriss) -----------------------------------------------------------

# Published-anchors 13.1 / Eyeriss ISCA 2016 Table 2: name -> (E, C per group, M, R, groups,
# published MACs in millions).
ALEXNET_CONV = {
    "conv1": (55, 3, 96, 11, 1, 105.4),
    "conv2": (27, 48, 256, 5, 2, 223.9),
    "conv3": (13, 256, 384, 3, 1, 149.5),
    "conv4": (13, 192, 384, 3, 2, 112.1),
    "conv5": (13, 192, 256, 3, 2, 74.8),
}


def test_alexnet_conv_layers_match_eyeriss_per_layer_macs():
    network = load_network("alexnet")
    assert network.input_shape == (3, 227, 227)
    for name, (size, in_per_group, out_channels, kernel, groups, published_m) in \
            ALEXNET_CONV.items():
        layer = network.layer(name)
        expected = square_conv_macs(size, in_per_group, out_channels, kernel)
        assert layer.out_shape == (out_channels, size, size), name
        assert (layer.groups, layer.in_channels_per_group) == (groups, in_per_group), name
        assert layer.macs == expected, name
        assert round(expected / 1e6, 1) == published_m, name
    assert round(network.conv_macs / 1e6, 1) == 665.8
    assert count_kinds(network) == {"conv": 5, "pool": 3, "fc": 3}


def test_alexnet_classifier_and_weights():
    network = load_network("alexnet")
    assert network.layer("pool5").out_shape == (256, 6, 6)
    conv_weights = sum(m * c * r * r for _, c, m, r, _, _ in ALEXNET_CONV.values())
    fc_weights = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    assert network.weight_count == conv_weights + fc_weights
    assert 60.5e6 < parameter_count(network) < 61.5e6  # "60 million parameters", ~61 M


# ---- VGG-16 -------------------------------------------------------------------------------

# Simonyan & Zisserman Table 1 config D: (stage output size, channels, convs in the stage).
VGG16_STAGES = ((224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3), (14, 512, 3))


def test_vgg16_conv_macs_and_sizes():
    network = load_network("vgg16")
    expected_total, in_channels = 0, 3
    for stage, (size, channels, convs) in enumerate(VGG16_STAGES, start=1):
        for index in range(1, convs + 1):
            layer = network.layer(f"conv{stage}_{index}")
            expected = square_conv_macs(size, in_channels, channels, 3)
            assert layer.out_shape == (channels, size, size) and layer.macs == expected
            expected_total += expected
            in_channels = channels
        assert network.layer(f"pool{stage}").out_shape == (channels, size // 2, size // 2)
    assert network.conv_macs == expected_total
    assert f"{expected_total / 1e9:.4g}" == "15.35"
    assert network.layer("conv5_3").out_shape == (512, 14, 14)
    assert count_kinds(network) == {"conv": 13, "pool": 5, "fc": 3}


def test_vgg16_weights():
    network = load_network("vgg16")
    assert network.layer("fc6").weight_shape == (4096, 512, 7, 7)  # 25088 inputs
    assert [network.layer(n).out_channels for n in ("fc6", "fc7", "fc8")] == [4096, 4096, 1000]
    assert round(parameter_count(network) / 1e6, 2) == 138.36  # paper Table 2: 138 M


# ---- MobileNet v1 1.0/224 -----------------------------------------------------------------

# Howard et al. Table 1 (the last dw at stride 1, erratum fixed): (pointwise out channels,
# depthwise stride) per separable block, after the 3x3/2 conv with 32 filters.
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_reference() -> tuple[int, dict[str, tuple[int, int, int]], int]:
    """Total MACs, output shapes and weights from Table 1 with symmetric pad 1."""
    size = conv_out_size(224, 3, 2, 2)
    macs, weights = square_conv_macs(size, 3, 32, 3), 32 * 3 * 9
    shapes, channels = {"conv0": (32, size, size)}, 32
    for index, (out_channels, stride) in enumerate(MOBILENET_BLOCKS, start=1):
        size = conv_out_size(size, 3, stride, 2)
        macs += square_conv_macs(size, 1, channels, 3)
        macs += square_conv_macs(size, channels, out_channels, 1)
        weights += channels * 9 + channels * out_channels
        shapes[f"conv{index}_dw"] = (channels, size, size)
        shapes[f"conv{index}_pw"] = (out_channels, size, size)
        channels = out_channels
    return macs + 1024 * 1000, shapes, weights + 1024 * 1000


def test_mobilenet_macs_shapes_and_weights():
    network = load_network("mobilenet_v1")
    expected_macs, expected_shapes, expected_weights = mobilenet_reference()
    for name, shape in expected_shapes.items():
        assert network.layer(name).out_shape == shape, name
    assert network.macs == expected_macs
    assert abs(expected_macs - 569e6) / 569e6 < 1e-3  # published 569 M mult-adds
    assert network.weight_count == expected_weights
    assert round(expected_weights / 1e6, 1) == 4.2  # published 4.2 M parameters
    assert network.layer("conv13_pw").out_shape == (1024, 7, 7)
    assert network.layer("conv13_dw").stride == (1, 1)


def test_mobilenet_depthwise_layers():
    network = load_network("mobilenet_v1")
    depthwise = [layer for layer in network.layers if layer.is_depthwise]
    assert [layer.name for layer in depthwise] == [f"conv{i}_dw" for i in range(1, 14)]
    assert all(layer.weight_shape[1:] == (1, 3, 3) for layer in depthwise)
    assert count_kinds(network) == {"conv": 27, "pool": 1, "fc": 1}


# ---- ResNets ------------------------------------------------------------------------------

# He et al. Table 1: (blocks, bottleneck or basic width, stage output size) per stage.
RESNET_STAGES = {"resnet18": ((2, 64, 56), (2, 128, 28), (2, 256, 14), (2, 512, 7)),
                 "resnet50": ((3, 64, 56), (4, 128, 28), (6, 256, 14), (3, 512, 7))}


def resnet_reference_macs(name: str) -> int:
    """Stem + blocks + classifier, every conv counted at its output size.

    ResNet-50 is Caffe-style: the stride sits on the first 1x1, so all three convs of a
    down-sampling block run at the stage's output size.
    """
    macs = square_conv_macs(112, 3, 64, 7)
    in_channels = 64
    for blocks, width, size in RESNET_STAGES[name]:
        out_channels = width if name == "resnet18" else 4 * width
        for _ in range(blocks):
            if name == "resnet18":
                body = in_channels * width * 9 + width * width * 9
            else:
                body = in_channels * width + width * width * 9 + width * out_channels
            macs += size * size * body
            if in_channels != out_channels:
                macs += size * size * in_channels * out_channels  # projection shortcut
            in_channels = out_channels
    return macs + in_channels * 1000


def test_resnet50_macs_and_shapes():
    network = load_network("resnet50")
    expected = resnet_reference_macs("resnet50")
    assert network.macs == expected == 3_857_973_248
    assert 3.8e9 <= expected <= 3.9e9
    assert network.layer("pool1").out_shape == (64, 56, 56)
    assert network.layer("res5c").out_shape == (2048, 7, 7)
    assert network.layer("res3a_branch2a").stride == (2, 2)  # Caffe: stride on the 1x1
    assert network.layer("res3a_branch2b").stride == (1, 1)
    assert count_kinds(network) == {"conv": 53, "pool": 2, "add": 16, "fc": 1}
    assert 25.4e6 < network.weight_count < 25.6e6  # "25.5 M parameters"


def test_resnet18_macs_and_shapes():
    network = load_network("resnet18")
    expected = resnet_reference_macs("resnet18")
    assert network.macs == expected
    assert 1.81e9 <= expected <= 1.83e9  # He et al. Table 1: 1.8 GFLOPs (mult-adds)
    assert network.layer("res5b").out_shape == (512, 7, 7)
    assert network.layer("res3a_branch2a").stride == (2, 2)  # torchvision: on the 3x3
    assert network.layer("res3a_branch2a").kernel_h == 3
    assert count_kinds(network) == {"conv": 20, "pool": 2, "add": 8, "fc": 1}
    assert 11.6e6 < network.weight_count < 11.7e6  # torchvision: 11.69 M with biases


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_adds_fuse_relu_and_branches_do_not(name):
    network = load_network(name)
    for layer in network.layers:
        if layer.kind == "add":
            assert layer.relu and layer.inputs[0].startswith(layer.name + "_branch2")
        if layer.name.endswith("_branch1"):
            assert not layer.relu


def test_pool_padding_must_leave_real_input_in_every_window():
    from accelsim.errors import WorkloadError
    from accelsim.workload.formats.yaml_network import network_from_dict
    with pytest.raises(WorkloadError, match="padding"):
        network_from_dict({"name": "p", "input": [2, 4, 4], "layers": [
            {"name": "p", "kind": "pool", "op": "max", "kernel": 2, "pad": 2}]}, "p.yaml")


# ---- VGG-19 -------------------------------------------------------------------------------

# Simonyan & Zisserman Table 1 config E: (stage output size, channels, convs in the stage).
VGG19_STAGES = ((224, 64, 2), (112, 128, 2), (56, 256, 4), (28, 512, 4), (14, 512, 4))


def test_vgg19_macs_shapes_and_parameters():
    network = load_network("vgg19")
    conv_macs, conv_weights, in_channels = 0, 0, 3
    for stage, (size, channels, convs) in enumerate(VGG19_STAGES, start=1):
        for index in range(1, convs + 1):
            layer = network.layer(f"conv{stage}_{index}")
            expected = square_conv_macs(size, in_channels, channels, 3)
            assert layer.out_shape == (channels, size, size) and layer.macs == expected
            conv_macs += expected
            conv_weights += channels * in_channels * 9
            in_channels = channels
        assert network.layer(f"pool{stage}").out_shape == (channels, size // 2, size // 2)
    fc_weights = 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000
    assert network.conv_macs == conv_macs
    assert network.macs == conv_macs + fc_weights
    assert f"{network.macs / 1e9:.3g}" == "19.6"   # He et al. 2016 Fig. 3: "19.6 billion FLOPs"
    assert network.weight_count == conv_weights + fc_weights
    assert round(parameter_count(network) / 1e6) == 144   # paper Table 2: 144 M (143.67 M)
    assert count_kinds(network) == {"conv": 16, "pool": 5, "fc": 3}


# ---- GoogLeNet ----------------------------------------------------------------------------

# Szegedy et al. Table 1 / published-anchors 13.5: module -> (output size, input channels,
# #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, output channels).
GOOGLENET_MODULES = {
    "3a": (28, 192, 64, 96, 128, 16, 32, 32, 256),
    "3b": (28, 256, 128, 128, 192, 32, 96, 64, 480),
    "4a": (14, 480, 192, 96, 208, 16, 48, 64, 512),
    "4b": (14, 512, 160, 112, 224, 24, 64, 64, 512),
    "4c": (14, 512, 128, 128, 256, 24, 64, 64, 512),
    "4d": (14, 512, 112, 144, 288, 32, 64, 64, 528),
    "4e": (14, 528, 256, 160, 320, 32, 128, 128, 832),
    "5a": (7, 832, 256, 160, 320, 32, 128, 128, 832),
    "5b": (7, 832, 384, 192, 384, 48, 128, 128, 1024),
}


def googlenet_module_weights(row) -> int:
    _, c, n1, n3r, n3, n5r, n5, proj, _ = row
    return c * n1 + c * n3r + n3r * n3 * 9 + c * n5r + n5r * n5 * 25 + c * proj


def googlenet_reference() -> tuple[int, int]:
    """(MACs, weights): stem, nine inception modules, classifier; every conv at its
    module's output size (all branches keep the size)."""
    macs = square_conv_macs(112, 3, 64, 7) + square_conv_macs(56, 64, 64, 1)
    macs += square_conv_macs(56, 64, 192, 3)
    weights = 64 * 3 * 49 + 64 * 64 + 192 * 64 * 9
    for row in GOOGLENET_MODULES.values():
        module_weights = googlenet_module_weights(row)
        macs += row[0] * row[0] * module_weights
        weights += module_weights
    return macs + 1024 * 1000, weights + 1024 * 1000


def test_googlenet_macs_and_weights():
    network = load_network("googlenet")
    expected_macs, expected_weights = googlenet_reference()
    assert network.macs == expected_macs
    assert 1.5e9 <= expected_macs <= 1.6e9      # "1.5 billion multiply-adds" (Sec. 1)
    assert network.weight_count == expected_weights
    assert 6.8e6 <= expected_weights <= 7.0e6   # Table 1 sums to 6.8 M; Caffe model 7.0 M
    assert count_kinds(network) == {"conv": 57, "pool": 14, "concat": 9, "fc": 1}


def test_googlenet_inception_modules_match_table_1():
    network = load_network("googlenet")
    for module, row in GOOGLENET_MODULES.items():
        size, in_channels, n1, _, n3, _, n5, proj, out_channels = row
        prefix = f"inception_{module}/"
        output = network.layer(prefix + "output")
        assert output.kind == "concat" and output.out_shape == (out_channels, size, size)
        assert output.inputs == tuple(prefix + branch
                                      for branch in ("1x1", "3x3", "5x5", "pool_proj"))
        assert n1 + n3 + n5 + proj == out_channels, module
        assert network.layer(prefix + "1x1").in_shape == (in_channels, size, size)
        assert network.layer(prefix + "3x3").pad == (1, 1, 1, 1)
        assert network.layer(prefix + "5x5").pad == (2, 2, 2, 2)
        assert network.layer(prefix + "pool").stride == (1, 1)
        assert network.layer(prefix + "pool_proj").out_channels == proj
    sizes = {"pool1/3x3_s2": 56, "pool2/3x3_s2": 28, "pool3/3x3_s2": 14, "pool4/3x3_s2": 7,
             "pool5/7x7_s1": 1}
    for name, size in sizes.items():
        assert network.layer(name).out_shape[1:] == (size, size), name


# ---- NiN (ImageNet, Caffe Model Zoo) ------------------------------------------------------

# nin_imagenet prototxt, crop 224: (name, output size, input channels, filters, kernel).
NIN_CONVS = (
    ("conv1", 54, 3, 96, 11), ("cccp1", 54, 96, 96, 1), ("cccp2", 54, 96, 96, 1),
    ("conv2", 27, 96, 256, 5), ("cccp3", 27, 256, 256, 1), ("cccp4", 27, 256, 256, 1),
    ("conv3", 13, 256, 384, 3), ("cccp5", 13, 384, 384, 1), ("cccp6", 13, 384, 384, 1),
    ("conv4-1024", 6, 384, 1024, 3), ("cccp7-1024", 6, 1024, 1024, 1),
    ("cccp8-1024", 6, 1024, 1000, 1),
)


def test_nin_macs_shapes_and_parameters():
    network = load_network("nin")
    assert conv_out_size(224, 11, 4, 0) == 54
    for name, size, in_channels, filters, kernel in NIN_CONVS:
        layer = network.layer(name)
        assert layer.in_channels == in_channels and layer.out_shape == (filters, size, size)
        assert layer.macs == square_conv_macs(size, in_channels, filters, kernel), name
    assert network.macs == sum(square_conv_macs(e, c, m, r) for _, e, c, m, r in NIN_CONVS)
    assert round(network.macs / 1e9, 2) == 1.10
    assert network.weight_count == sum(m * c * r * r for _, _, c, m, r in NIN_CONVS)
    assert round(parameter_count(network) * 4 / 2**20) == 29   # the zoo's 29 MB float model
    pools = {"pool0": 27, "pool2": 13, "pool3": 6, "pool4": 1}  # Caffe ceil mode: 54 -> 27
    for name, size in pools.items():
        assert network.layer(name).out_shape[1:] == (size, size), name
    assert count_kinds(network) == {"conv": 12, "pool": 4}


def test_c3d_clip_layers_macs_and_weights():
    """Tran et al. 2015, Figure 3: eight 3x3x3 convs (64, 128, 256 x 2, 512 x 4), pool1
    1x2x2 and the other pools 2x2x2 over a 16 x 112 x 112 clip; fc6 reads 512 x 1 x 4 x 4."""
    network = load_network("c3d")
    assert network.input_shape == (3, 16 * 112, 112)
    convs = [layer for layer in network.layers if layer.kind == "conv3d"]
    assert [layer.out_channels for layer in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert all(layer.weight_shape[2:] == (3, 3, 3) for layer in convs)
    frames = [layer.out_frames for layer in network.layers if layer.kind == "pool3d"]
    assert frames == [16, 8, 4, 2, 1]
    assert network.layer("fc6").in_shape == (512, 4, 4)
    expected = sum(m * c * 27 * d * s * s for m, c, d, s in (
        (64, 3, 16, 112), (128, 64, 16, 56), (256, 128, 8, 28), (256, 256, 8, 28),
        (512, 256, 4, 14), (512, 512, 4, 14), (512, 512, 2, 7), (512, 512, 2, 7)))
    assert network.conv_macs == expected
    assert network.macs == expected + 8192 * 4096 + 4096 * 4096 + 4096 * 487
    assert round(network.weight_count / 1e6, 2) == 79.98

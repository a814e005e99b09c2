"""MobileNet v1's width multiplier and resolution (accelsim/workload/variants.py).

Shapes are recomputed here from Howard et al. 2017, Table 1 (channels x alpha, rounded down
as TF-slim and Keras do; feature maps resolution / 2, 4, 8, 16, 32), never from Layer.macs,
and the totals compared with the published ones: the paper's Table 6 (width at 224) and
Table 7 (resolution at width 1.0) and TF-slim's checkpoint table (mobilenet_v1.md).
"""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.compare import compare
from accelsim.errors import WorkloadError
from accelsim.sweep.spec import sweep_from_dict
from accelsim.workload import load_network

ALPHAS = (0.25, 0.5, 0.75, 1.0)
RESOLUTIONS = (128, 160, 192, 224)
# Table 1: (dw stride or None for the first full conv, output channels), in order.
TABLE1 = [(2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
          *[(1, 512)] * 5, (2, 1024), (1, 1024)]
PUBLISHED_MACS_M = {   # (alpha, resolution) -> published million mult-adds
    (1.0, 224): 569, (0.75, 224): 325, (0.5, 224): 149, (0.25, 224): 41,   # Table 6
    (1.0, 192): 418, (1.0, 160): 290, (1.0, 128): 186,                     # Table 7
    (0.5, 160): 77, (0.5, 128): 49, (0.25, 128): 14,                       # TF-slim table
}
PUBLISHED_PARAMS_M = {1.0: 4.2, 0.75: 2.6, 0.5: 1.3, 0.25: 0.5}           # Table 6


def expected_layers(alpha: float, resolution: int) -> list[tuple[str, int, int, int]]:
    """(name, output channels, output size, MACs) per conv / fc layer, from Table 1."""
    size = (resolution + 1 - 3) // 2 + 1            # conv0: 3x3 stride 2, 'SAME'
    channels = int(32 * alpha)
    rows = [("conv0", channels, size, size * size * channels * 3 * 9)]
    for index, (stride, out) in enumerate(TABLE1[1:], start=1):
        size = size // stride
        rows.append((f"conv{index}_dw", channels, size, size * size * channels * 9))
        out = int(out * alpha)
        rows.append((f"conv{index}_pw", out, size, size * size * out * channels))
        channels = out
    rows.append(("fc", 1000, 1, channels * 1000))
    return rows


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_variant_shapes_and_macs_follow_table_1(alpha, resolution):
    network = load_network("mobilenet_v1", alpha=alpha, resolution=resolution)
    assert network.input_shape == (3, resolution, resolution)
    weighted = [layer for layer in network.layers if layer.kind in ("conv", "fc")]
    expected = expected_layers(alpha, resolution)
    assert [layer.name for layer in weighted] == [row[0] for row in expected]
    for layer, (name, out, size, macs) in zip(weighted, expected, strict=True):
        assert layer.out_shape == (out, size, size), name
        assert layer.macs == macs, name
    assert network.layer("avgpool").out_shape == (int(1024 * alpha), 1, 1)


@pytest.mark.parametrize(("alpha", "resolution"), sorted(PUBLISHED_MACS_M))
def test_variant_macs_match_the_published_totals(alpha, resolution):
    macs = sum(row[3] for row in expected_layers(alpha, resolution))
    assert load_network("mobilenet_v1", alpha=alpha, resolution=resolution).macs == macs
    assert abs(macs / 1e6 - PUBLISHED_MACS_M[alpha, resolution]) <= 0.75


@pytest.mark.parametrize("alpha", ALPHAS)
def test_variant_parameters_match_table_6(alpha):
    network = load_network("mobilenet_v1", alpha=alpha)
    params = sum(layer.weight_count + layer.out_channels for layer in network.layers
                 if layer.kind in ("conv", "fc"))
    assert abs(params / 1e6 - PUBLISHED_PARAMS_M[alpha]) <= 0.05


def test_a_name_and_options_give_the_same_network():
    by_name = load_network("mobilenet_v1_050_128")
    by_options = load_network("mobilenet_v1", alpha=0.5, resolution=128)
    assert by_name.name == by_options.name == "mobilenet_v1_050_128"
    assert by_name.layers == by_options.layers
    assert load_network("mobilenet_v1", alpha=0.25).name == "mobilenet_v1_025_224"
    assert load_network("mobilenet_v1", resolution=160).name == "mobilenet_v1_100_160"


def test_the_base_case_is_the_shipped_network():
    base = load_network("mobilenet_v1")
    for same in (load_network("mobilenet_v1_100_224"),
                 load_network("mobilenet_v1", alpha=1.0, resolution=224)):
        assert same.name == "mobilenet_v1" and same.layers == base.layers


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("mobilenet_v1_060_128",), {}, "alpha 0.6 is not one of 0.25, 0.5, 0.75, 1.0"),
    (("mobilenet_v1_050_100",), {}, "resolution 100 is not one of 128, 160, 192, 224"),
    (("mobilenet_v1",), {"alpha": 0.6}, "alpha 0.6 is not one of 0.25, 0.5, 0.75, 1.0"),
    (("mobilenet_v1",), {"resolution": 100}, "resolution 100 is not one of"),
    (("mobilenet_v1",), {"alpha": "0.5"}, "alpha '0.5' is not one of"),
    (("mobilenet_v1",), {"width": 0.5}, "unknown option 'width'; mobilenet_v1 takes alpha"),
    (("vgg16",), {"alpha": 0.5}, "'vgg16': takes no options"),
])
def test_a_bad_option_is_one_line_naming_it(args, kwargs, message):
    with pytest.raises(WorkloadError, match=message) as err:
        load_network(*args, **kwargs)
    assert "\n" not in str(err.value)


def test_the_cli_refuses_a_bad_variant_with_one_line(capsys):
    assert main(["run", "--workload", "mobilenet_v1_050_100", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "resolution 100 is not one of 128, 160, 192, 224" in err[0]


def test_variants_run_from_the_cli_compare_and_sweeps(capsys, tmp_path):
    assert main(["run", "--workload", "mobilenet_v1_025_128", "--arch", "eyeriss_v2", "-q",
                 "--values", "synthetic"]) == 0
    assert "mobilenet_v1_025_128 on eyeriss_v2" in capsys.readouterr().out
    result = compare(["diannao"], ["mobilenet_v1_025_128", "mobilenet_v1_025_160"],
                     values="synthetic")
    assert set(result.networks["workload"]) == {"mobilenet_v1_025_128",
                                                "mobilenet_v1_025_160"}
    sweep = sweep_from_dict({"archs": ["diannao"], "workloads": ["mobilenet_v1_050_128"],
                             "grid": {"dram.bytes_per_cycle": [8, 16]}}, "sweep.yaml",
                            tmp_path)
    assert [network.name for network in sweep.workloads] == ["mobilenet_v1_050_128"]

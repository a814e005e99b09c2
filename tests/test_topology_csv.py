"""SCALE-Sim topology CSV import: SCALE-Sim's own ResNet files against the zoo, depthwise
encodings, the inserted pooling, SCALE-Sim's valid-convolution arithmetic, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import WorkloadError
from accelsim.workload import load_network
from accelsim.workload.formats.topology_csv import load_topology_csv

DATA = Path(__file__).resolve().parent / "data" / "scalesim"
HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
          "Num Filter, Strides,\n")


def _shape(layer):
    return (layer.kind, layer.in_shape, layer.out_shape, (layer.kernel_h, layer.kernel_w),
            layer.stride, layer.groups, layer.macs)


@pytest.mark.parametrize("name", ["resnet50", "resnet18"])
def test_scalesim_resnet_matches_the_zoo_layer_by_layer(name):
    imported = load_network(DATA / f"{name}.csv")
    zoo = load_network(name)
    ours = [_shape(layer) for layer in imported.layers if layer.has_weights]
    theirs = [_shape(layer) for layer in zoo.layers if layer.has_weights]
    assert ours == theirs
    assert imported.macs == zoo.macs
    if name == "resnet50":
        assert imported.macs == 3_857_973_248 and len(ours) == 54


def test_scalesim_rows_keep_their_names_and_pools_are_inserted_where_skipped():
    network = load_network(DATA / "resnet50.csv")
    assert network.layers[0].name == "Conv1" and network.layers[-1].name == "FC6"
    pools = [layer for layer in network.layers if layer.kind == "pool"]
    assert [(p.name, p.pool_op, p.in_shape, p.out_shape) for p in pools] == [
        ("pool_before_CB2a_1", "max", (64, 112, 112), (64, 56, 56)),
        ("pool_before_FC6", "avg", (2048, 7, 7), (2048, 1, 1))]
    assert network.layer("FC6").kind == "fc" and not network.layer("FC6").relu
    assert network.layer("CB2a_2").relu


def test_valid_padding_computes_what_scalesim_computes():
    """SCALE-Sim: ofmap = (ifmap - filter) / stride + 1, MACs = ofmap^2 * R * S * C * M."""
    network = load_topology_csv(DATA / "alexnet.csv", padding="valid")
    assert network.layer("Conv4").pad == (1, 1, 1, 1)   # Conv3's 11x11 padded to the 13x13
    with open(DATA / "alexnet.csv") as handle:
        rows = [[c.strip() for c in row] for row in csv.reader(handle)][1:]
    for row in rows:
        h, w, r, s, c, m, u = (int(v) for v in row[1:8])
        layer = network.layer(row[0])
        out_h, out_w = (h - r) // u + 1, (w - s) // u + 1
        padded = (layer.in_h + layer.pad[0] + layer.pad[2], layer.in_w + layer.pad[1]
                  + layer.pad[3])
        assert padded == (h, w) and (layer.out_h, layer.out_w) == (out_h, out_w)
        assert layer.macs == out_h * out_w * r * s * c * m


def test_both_scalesim_depthwise_encodings(tmp_path):
    """mobilnet_paper.csv writes a depthwise row as (Channels 1, Num Filter 1) and a name
    with 'dw'; mobilenet.csv as (Channels C, Num Filter 1) with a '#dw' comment."""
    path = tmp_path / "mobile.csv"
    path.write_text(HEADER + "\n".join([
        "Conv1, 32, 32, 3, 3, 3, 16, 2,",
        "Conv2_dw, 16, 16, 3, 3, 1, 1, 1,#dw",
        "\tConv3, 16, 16, 1, 1, 16, 32, 1",
        "Conv4, 16, 16, 3, 3, 32, 1, 2,#dw",
        "Conv5, 8, 8, 3, 3, 32, 1, 1,",
        "FC, 1, 1, 1, 1, 1, 10, 1,",
    ]) + "\n")
    network = load_topology_csv(path)
    dw2, dw4, single = network.layer("Conv2_dw"), network.layer("Conv4"), network.layer("Conv5")
    assert dw2.is_depthwise and dw2.in_shape == (16, 16, 16) and dw2.macs == 16 * 16 * 9 * 16
    assert dw4.is_depthwise and dw4.out_shape == (32, 8, 8) and dw4.macs == 8 * 8 * 9 * 32
    assert single.out_channels == 1 and single.groups == 1   # unmarked: taken literally
    assert network.layer("FC").in_shape == (1, 1, 1)


def test_a_topology_runs_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text(HEADER + "c1,16,16,3,3,3,8,1,\nc2,8,8,3,3,8,8,1,\nfc,1,1,1,1,8,10,1,\n")
    assert main(["run", "--workload", str(path)]) == 0
    out = capsys.readouterr().out
    assert "pool_before_c2" in out and "network tiny on diannao" in out
    result = accelsim.simulate("diannao", path)
    assert result.layers["layer"].tolist() == ["c1", "pool_before_c2", "c2", "pool_before_fc",
                                               "fc"]


@pytest.mark.parametrize("text, needle", [
    ("Layer, M, N, K,\nl1, 4, 4, 4,\n", "GEMM"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
     "Num Filter, Strides, Sparsity,\nc, 8, 8, 3, 3, 1, 6, 1, 1:4,\n", "sparsity"),
    (HEADER + "c1, 8, 8, 3, 3, 3, four, 1,\n", "Num Filter"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 4,\n", "expected 8 columns"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 4, 1,\nc2, 8, 8, 3, 3, 7, 4, 1,\n", "cannot be connected"),
    (HEADER + "c1, 4, 4, 9, 9, 3, 4, 1,\n", "larger than"),
    (HEADER, "no layer rows"),
    ("", "empty"),
])
def test_bad_topologies_are_one_line_errors_naming_file_and_line(tmp_path, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(WorkloadError) as info:
        load_topology_csv(path, padding="valid")
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert needle.lower() in message.lower()


def test_missing_csv_and_bad_padding_mode(tmp_path):
    with pytest.raises(Exception, match="not found"):
        load_network(tmp_path / "nope.csv")
    with pytest.raises(WorkloadError, match="padding"):
        load_topology_csv(DATA / "alexnet.csv", padding="full")


def test_scalesim_dp_rows_are_grouped_convs(tmp_path):
    """SCALE-Sim's loader runs a row whose name contains ``DP`` as ``Channels`` one-channel
    layers of ``Num Filter`` filters: C x (E * F * R * S * 1 * N) MACs in all."""
    path = tmp_path / "dp.csv"
    path.write_text(HEADER + "\n".join([
        "Conv1, 32, 32, 3, 3, 3, 16, 2,",
        "Conv2_DP, 16, 16, 3, 3, 16, 1, 1,",
        "Conv3, 16, 16, 1, 1, 16, 32, 1,",
        "Conv4DP, 16, 16, 3, 3, 32, 2, 2,",     # channel multiplier 2
        "Conv5, 8, 8, 1, 1, 64, 10, 1,",
        "dp_lower, 8, 8, 3, 3, 10, 4, 1,",      # 'DP' is case-sensitive: an ordinary conv
    ]) + "\n")
    network = load_topology_csv(path)
    dw, mult, plain = (network.layer(n) for n in ("Conv2_DP", "Conv4DP", "dp_lower"))
    assert dw.is_depthwise and dw.out_shape == (16, 16, 16)
    assert dw.macs == 16 * (16 * 16 * 3 * 3 * 1 * 1)
    assert mult.groups == 32 and mult.out_shape == (64, 8, 8)
    assert mult.macs == 32 * (8 * 8 * 3 * 3 * 1 * 2)
    assert plain.groups == 1 and plain.out_channels == 4
    assert [layer.name for layer in network.layers if layer.kind == "pool"] == []

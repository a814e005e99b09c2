"""SCALE-Sim topology CSV import: independent rows (SCALE-Sim's meaning), GEMM files, DP
rows; in chaining mode SCALE-Sim's own ResNet files against the zoo, depthwise encodings, the
inserted pooling; SCALE-Sim's valid-convolution arithmetic; clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import accelsim
from accelsim.cli import main
from accelsim.errors import WorkloadError
from accelsim.workload import load_network
from accelsim.workload.formats.topology_csv import load_topology, load_topology_csv

DATA = Path(__file__).resolve().parent / "data" / "scalesim"
HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
          "Num Filter, Strides,\n")


def _shape(layer):
    return (layer.kind, layer.in_shape, layer.out_shape, (layer.kernel_h, layer.kernel_w),
            layer.stride, layer.groups, layer.macs)


@pytest.mark.parametrize("name", ["resnet50", "resnet18"])
def test_scalesim_resnet_matches_the_zoo_layer_by_layer(name):
    imported = load_topology_csv(DATA / f"{name}.csv", chain=True)
    zoo = load_network(name)
    ours = [_shape(layer) for layer in imported.layers if layer.has_weights]
    theirs = [_shape(layer) for layer in zoo.layers if layer.has_weights]
    assert ours == theirs
    assert imported.macs == zoo.macs
    if name == "resnet50":
        assert imported.macs == 3_857_973_248 and len(ours) == 54


def test_scalesim_rows_keep_their_names_and_pools_are_inserted_where_skipped():
    network = load_topology_csv(DATA / "resnet50.csv", chain=True)
    assert network.layers[0].name == "Conv1" and network.layers[-1].name == "FC6"
    pools = [layer for layer in network.layers if layer.kind == "pool"]
    assert [(p.name, p.pool_op, p.in_shape, p.out_shape) for p in pools] == [
        ("pool_before_CB2a_1", "max", (64, 112, 112), (64, 56, 56)),
        ("pool_before_FC6", "avg", (2048, 7, 7), (2048, 1, 1))]
    assert network.layer("FC6").kind == "fc" and not network.layer("FC6").relu
    assert network.layer("CB2a_2").relu


def test_valid_padding_computes_what_scalesim_computes():
    """SCALE-Sim: ofmap = (ifmap - filter) / stride + 1, MACs = ofmap^2 * R * S * C * M."""
    network = load_topology_csv(DATA / "alexnet.csv", padding="valid", chain=True)
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
    network = load_topology_csv(path, chain=True)
    dw2, dw4, single = network.layer("Conv2_dw"), network.layer("Conv4"), network.layer("Conv5")
    assert dw2.is_depthwise and dw2.in_shape == (16, 16, 16) and dw2.macs == 16 * 16 * 9 * 16
    assert dw4.is_depthwise and dw4.out_shape == (32, 8, 8) and dw4.macs == 8 * 8 * 9 * 32
    assert single.out_channels == 1 and single.groups == 1   # unmarked: taken literally
    assert network.layer("FC").in_shape == (1, 1, 1)


def test_rows_are_independent_layers_on_their_own_inputs():
    """SCALE-Sim's meaning: every row its own layer on its own Channels x IFMAP input."""
    networks = load_topology(DATA / "resnet50.csv", padding="valid")
    with open(DATA / "resnet50.csv") as handle:
        rows = [[c.strip() for c in row] for row in csv.reader(handle) if row][1:]
    assert len(networks) == len(rows) == 54
    for network, row in zip(networks, rows, strict=True):
        h, w, r, s, c, m, u = (int(v) for v in row[1:8])
        (layer,) = network.layers
        assert layer.name == row[0] and layer.inputs == ("input",)
        assert network.input_shape == layer.in_shape == (c, h, w) and layer.pad == (0, 0, 0, 0)
        assert layer.macs == ((h - r) // u + 1) * ((w - s) // u + 1) * r * s * c * m
    same = load_topology(DATA / "resnet50.csv")   # default: same padding, same input shapes
    assert [n.input_shape for n in same] == [n.input_shape for n in networks]
    assert same[0].layers[0].out_shape == (64, 112, 112)


def test_gemm_rows_are_scalesims_conv_mapping(tmp_path):
    """topology_utils.load_arrays_gemm: IFMAP M x K, Filter 1 x K, Channels 1, Num Filter N."""
    path = tmp_path / "gemm.csv"
    path.write_text("Layer, M, N, K,\nq, 7, 5, 11,\nrow, 1, 3, 4,\n")
    first, second = (n.layers[0] for n in load_topology(path))
    assert (first.kind, first.in_shape, first.out_shape) == ("conv", (1, 7, 11), (5, 7, 1))
    assert (first.kernel_h, first.kernel_w, first.macs, first.relu) == (1, 11, 7 * 5 * 11, False)
    assert second.kind == "fc" and second.macs == 3 * 4          # M = 1: the filter covers it
    assert load_topology(path, kind="gemm")[0].layers[0] == first
    with pytest.raises(WorkloadError, match=r"line 1: topology kind conv was asked for, but "
                                            r"this is a GEMM header \(Layer, M, N, K\)"):
        load_topology(path, kind="conv")


def test_a_topology_runs_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text(HEADER + "c1,16,16,3,3,3,8,1,\nc2,8,8,3,3,8,8,1,\nfc,1,1,1,1,8,10,1,\n")
    out_file = tmp_path / "out.csv"
    assert main(["run", "--workload", str(path), "-o", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "pool_before" not in out and "network tiny on diannao" in out
    import pandas as pd

    layers = pd.read_csv(out_file)
    assert layers["layer"].tolist() == ["c1", "c2", "fc"]
    assert f"cycles      {layers['cycles'].sum():,} " in out
    with pytest.raises(WorkloadError, match="3 rows are independent layers"):
        accelsim.simulate("diannao", path)
    assert main(["run", "--workload", str(path), "--input", "x.npy", "-q"]) == 2
    assert "independent rows" in capsys.readouterr().err


def test_chaining_connects_rows_and_inserts_pooling(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(HEADER + "c1,16,16,3,3,3,8,1,\nc2,8,8,3,3,8,8,1,\nfc,1,1,1,1,8,10,1,\n")
    result = accelsim.simulate("diannao", load_topology_csv(path, chain=True))
    assert result.layers["layer"].tolist() == ["c1", "pool_before_c2", "c2", "pool_before_fc",
                                               "fc"]
    path.write_text(HEADER + "c1, 8, 8, 3, 3, 3, 4, 1,\nc2, 8, 8, 3, 3, 7, 4, 1,\n")
    with pytest.raises(WorkloadError, match="cannot be connected"):
        load_topology_csv(path, padding="valid", chain=True)


@pytest.mark.parametrize("text, needle", [
    ("Layer, M, N, K,\nl1, 4, 0, 4,\n", "line 2, column 3 (N): expected a positive integer"),
    ("Layer, M, N, K, Sparsity,\nl1, 4, 4, 4, 3:2,\n", "line 2, column 5 (Sparsity): "
                                                       "expected N:M with 1 <= N <= M"),
    ("Layer, M, N, K, Sparsity,\nl1, 4, 4, 4, 2-4,\n", "column 5 (Sparsity)"),
    ("Layer, M, N, K, Sparsity,\nl1, 4, 4, 4, 0:4,\n", "column 5 (Sparsity)"),
    (HEADER + "c1, 8, 8, 3, 3, 3, four, 1,\n", "line 2, column 7 (Num Filter)"),
    (HEADER + "c1, 8, 8, 3, 3, -3, 4, 1,\n", "line 2, column 6 (Channels)"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 4,\n", "expected 8 columns"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 4, 1,\nc2, 4, 4, 9, 9, 3, 4, 1,\n",
     "line 3 (c2), column 4 (Filter Height): 9 is larger than IFMAP Height 4"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 4, 1,\n, 4, 4, 1, 1, 3, 4, 1,\n",
     "line 3, column 1 (Layer Name): the layer name is empty"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 0, 1,\n", "line 2, column 7 (Num Filter): expected a positive"),
    (HEADER + "c1, 8, 8, 3, 3, 3, 4, 1.5,\n", "line 2, column 8 (Strides): expected a positive"),
    (HEADER.rstrip(",\n") + ", Sparsity,\nc1, 8, 8, 3, 3, 3, 4, 1, 2:4,\nc2, 8, 8, 3, 3, 3, 4, "
     "1, 4:2,\n", "line 3, column 9 (Sparsity): expected N:M with 1 <= N <= M"),
    ("Layer, M, N,\nl1, 4, 4,\n", "expected the conv header"),
    (HEADER, "no layer rows"),
    ("", "empty"),
])
def test_bad_topologies_are_one_line_errors_naming_file_and_line(tmp_path, text, needle):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    for padding in ("valid", "same"):
        with pytest.raises(WorkloadError) as info:
            load_topology(path, padding=padding)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert needle.lower() in message.lower(), message


def test_missing_csv_and_bad_padding_mode(tmp_path):
    with pytest.raises(Exception, match="not found"):
        load_network(tmp_path / "nope.csv")
    with pytest.raises(WorkloadError, match="padding"):
        load_topology_csv(DATA / "alexnet.csv", padding="full")


def test_scalesim_dp_rows_are_grouped_convs_or_per_channel_layers(tmp_path):
    """SCALE-Sim's loader runs a row whose name contains ``DP`` as ``Channels`` one-channel
    layers of ``Num Filter`` filters: C x (E * F * R * S * 1 * N) MACs in all. Natively one
    grouped conv; with ``expand_dp`` (the systolic core) SCALE-Sim's layers."""
    path = tmp_path / "dp.csv"
    path.write_text(HEADER + "\n".join([
        "Conv2_DP, 16, 16, 3, 3, 16, 1, 1,",
        "Conv4DP, 16, 16, 3, 3, 32, 2, 2,",     # channel multiplier 2
        "dp_lower, 8, 8, 3, 3, 10, 4, 1,",      # 'DP' is case-sensitive: an ordinary conv
    ]) + "\n")
    dw, mult, plain = (n.layers[0] for n in load_topology(path))
    assert dw.is_depthwise and dw.out_shape == (16, 16, 16)
    assert dw.macs == 16 * (16 * 16 * 3 * 3 * 1 * 1)
    assert mult.groups == 32 and mult.out_shape == (64, 8, 8)
    assert mult.macs == 32 * (8 * 8 * 3 * 3 * 1 * 2)
    assert plain.groups == 1 and plain.out_channels == 4
    expanded = load_topology(path, padding="valid", expand_dp=True)
    assert len(expanded) == 16 + 32 + 1
    assert [n.name for n in expanded[:2]] == ["Conv2_DPChannel_0", "Conv2_DPChannel_1"]
    assert all(n.input_shape == (1, 16, 16) and n.layers[0].out_channels == 2
               for n in expanded[16:48])
    assert sum(n.macs for n in expanded[:48]) == 16 * 14 * 14 * 9 + 32 * 7 * 7 * 9 * 2
    import pandas as pd

    for arch, layers in (("systolic", 16 + 32 + 1), ("eyeriss", 3)):   # per channel / native
        assert main(["run", "--arch", arch, "--workload", str(path), "-q",
                     "-o", str(tmp_path / f"{arch}.csv")]) == 0
        assert len(pd.read_csv(tmp_path / f"{arch}.csv")) == layers


def test_scalesim_reports_have_one_row_per_topology_row(tmp_path, capsys):
    """No inserted rows, and the printed totals are the report's sums."""
    cfg = Path(__file__).parent / "data" / "scalesim_reports" / "os_user" / "scale.cfg"
    path = tmp_path / "rows.csv"
    path.write_text(HEADER + "a, 9, 7, 3, 2, 3, 5, 2,\nb_DP, 6, 6, 6, 6, 2, 3, 1,\n"
                             "c, 1, 1, 1, 1, 4, 6, 1,\n")
    assert main(["run", "--scalesim-config", str(cfg), "--workload", str(path),
                 "--scalesim-reports", str(tmp_path / "r"), "-q"]) == 0
    from accelsim.scalesim.reports import read_report

    compute = read_report(tmp_path / "r" / "COMPUTE_REPORT.csv")
    assert compute["LayerID"].tolist() == [0, 1, 2, 3]     # b_DP: one row per channel
    assert f"cycles      {int(compute['Total Cycles'].sum()):,} " in capsys.readouterr().out


SPARSE = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
          "Num Filter, Strides, Sparsity,\nc, 8, 8, 3, 3, 4, 6, 1, 2:4,\nd, 5, 5, 1, 1, 3, 2, 1,\n")


def test_n_m_pruning_keeps_the_largest_n_of_every_m_in_window_order():
    from accelsim.workload.formats.topology_csv import prune_n_m

    rng = np.random.default_rng(7)
    weights = rng.standard_normal((5, 3, 3, 2)).astype(np.float32)   # window 18: 4 blocks + 2
    pruned = prune_n_m(weights, 2, 4)
    window = pruned.transpose(0, 2, 3, 1).reshape(5, -1)
    original = weights.transpose(0, 2, 3, 1).reshape(5, -1)
    for start in range(0, 18, 4):
        block, full = window[:, start:start + 4], original[:, start:start + 4]
        assert ((block != 0).sum(axis=1) == 2).all()
        assert np.allclose(np.sort(np.abs(block), axis=1)[:, -2:],
                           np.sort(np.abs(full), axis=1)[:, -2:])
    assert prune_n_m(weights, 4, 4) is weights and pruned.dtype == weights.dtype


def test_sparsity_rows_run_pruned_and_are_refused_where_they_would_run_dense(tmp_path, capsys):
    path = tmp_path / "sparse.csv"
    path.write_text(SPARSE)
    networks = load_topology(path)
    assert [n.sparsity for n in networks] == [(2, 4), (1, 1)]
    assert main(["run", "--workload", str(path), "--arch", "systolic", "-q"]) == 0
    assert "pruned 2:4" in capsys.readouterr().out
    with pytest.raises(WorkloadError, match="line 2 .c.: N:M sparsity is applied to "
                                            "independent rows"):
        load_topology_csv(path, chain=True)
    path.write_text(SPARSE.rsplit("d,", 1)[0])
    with pytest.raises(WorkloadError, match="row 'c': Sparsity 2:4 is applied by"):
        load_topology_csv(path)


def test_topology_kind_option_overrides_and_checks_the_header(tmp_path, capsys):
    """``--topology-kind`` is SCALE-Sim's ``-i``: it must agree with the header; a wrong or
    unknown kind, or a workload that is no topology, is a one-line error (exit 2)."""
    path = tmp_path / "gemm.csv"
    path.write_text("Layer, M, N, K,\nq, 7, 5, 11,\n")
    cfg = Path(__file__).parent / "data" / "scalesim_reports" / "os_calc" / "scale.cfg"
    assert main(["run", "--arch", "systolic", "--workload", str(path), "--topology-kind",
                 "gemm", "-q"]) == 0
    assert main(["run", "--scalesim-config", str(cfg), "--workload", str(path),
                 "--topology-kind", "gemm", "-q"]) == 0
    capsys.readouterr()
    for args in (["--topology-kind", "conv"], ["--scalesim-config", str(cfg),
                                                "--topology-kind", "conv"]):
        assert main(["run", "--arch", "systolic", "--workload", str(path), "-q", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and f"{path}: line 1: topology kind conv was asked for" in err
    assert main(["run", "--workload", "lenet5", "--topology-kind", "gemm", "-q"]) == 2
    assert "lenet5 is not a SCALE-Sim topology CSV" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--workload", str(path), "--topology-kind", "mnk"])
    assert exit_info.value.code == 2 and "invalid choice: 'mnk'" in capsys.readouterr().err

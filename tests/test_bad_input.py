"""Regression tests of the root causes a generated campaign of bad inputs found: each ends in
one error line naming the file, row, key or layer (exit code 2 from the CLI), never a
traceback and never a silently accepted impossible input. One test (family) per cause."""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np
import pandas as pd
import pytest

import accelsim
from accelsim.cli import main
from accelsim.compare import compare
from accelsim.config import with_overrides
from accelsim.errors import AccelsimError, WorkloadError
from accelsim.scalesim.config import read_scalesim_config
from accelsim.sweep.runner import run_sweep
from accelsim.sweep.spec import SweepError, sweep_from_dict
from accelsim.workload import load_network, make_tensors, network
from accelsim.workload.formats.onnx_model import import_onnx
from accelsim.workload.formats.topology_csv import load_topology_csv
from accelsim.workload.transforms import apply_transform
from tests.input_helpers import conv_model, refused, write_network

CONV = {"name": "c1", "kind": "conv", "out_channels": 4, "kernel": 3, "pad": 1}


# ---- 1. non-finite or unrepresentable ONNX values --------------------------------------------

@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")
@pytest.mark.parametrize(("case", "needles"), [
    ("nan_weights", ["layer 'conv': its weights are not finite", "'W'"]),
    ("inf_bias", ["layer 'conv': its biases are not finite", "'B'"]),
    ("nan_bn_variance", ["layer 'conv'", "'var'"]),
    ("negative_bn_variance", ["layer 'conv'", "folding made them"]),
])
def test_onnx_non_finite_weights_biases_and_statistics(tmp_path, capsys, case, needles):
    stats = {"gamma": np.ones(4), "beta": np.zeros(4), "mean": np.zeros(4), "var": np.ones(4)}
    weights, bias, extra = None, None, ()
    if case == "nan_weights":
        weights = np.full((4, 3, 3, 3), np.nan)
    elif case == "inf_bias":
        bias = np.array([np.inf, 0, 0, 0])
    else:
        stats["var"] = np.array([np.nan if case == "nan_bn_variance" else -2.0, 1, 1, 1])
        extra = [("BatchNormalization", stats, {"epsilon": 1e-5})]
    path = conv_model(tmp_path / f"{case}.onnx", weights, bias, extra=extra)
    line = refused(capsys, "run", "-q", "--workload", path)
    assert str(path) in line and all(needle in line for needle in needles), line


def test_onnx_bias_beyond_the_fixed16_accumulator(tmp_path, capsys):
    """Weights 0.1 (< 2**-3: 18 fraction bits) leave 62 - 16 - 18 = 28 bits for a bias."""
    line = refused(capsys, "run", "-q", "--workload",
                   conv_model(tmp_path / "big.onnx", bias=np.array([1e30, 0, 0, 0])))
    assert "layer 'conv': bias 1e+30" in line and "below 2**28" in line, line
    path = conv_model(tmp_path / "below.onnx", bias=np.array([2.0 ** 27, 1, -1, 0]))
    fixed = accelsim.simulate("diannao", path, keep_outputs=True).outputs["conv"].to_float()
    fp32 = with_overrides(accelsim.load_arch("diannao"), {"precision": "fp32"})
    exact = accelsim.simulate(fp32, path, keep_outputs=True).outputs["conv"]
    np.testing.assert_allclose(fixed[0], exact[0], rtol=1e-6)   # no overflow below it


def test_tensors_too_small_for_a_fixed16_scale_or_not_finite():
    net = load_network("lenet5")
    tensors = make_tensors(net)
    tiny = {**tensors.weights, "c1": np.full_like(tensors.weights["c1"], 1e-35)}
    with pytest.raises(AccelsimError, match=r"layer 'c1' weights: .* below 2\*\*-100"):
        dataclasses.replace(tensors, weights=tiny)
    bad_input = tensors.input.copy()
    bad_input[0, 0, 0] = np.nan
    with pytest.raises(AccelsimError, match="the input: NaN or infinite"):
        dataclasses.replace(tensors, input=bad_input)


# ---- 2. a SCALE-Sim filter larger than its IFMAP ---------------------------------------------

@pytest.mark.parametrize("padding", ["same", "valid"])
def test_topology_filter_larger_than_ifmap(tmp_path, padding):
    path = tmp_path / "big_filter.csv"
    path.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\nConv1, 8, 8, 3, 3, 3, 8, 1,\n"
                    "Conv2, 8, 4, 3, 7, 8, 8, 1,\n")
    with pytest.raises(WorkloadError) as caught:
        load_topology_csv(path, padding=padding)
    assert str(caught.value) == (f"{path}: line 3 (Conv2), column 5 (Filter Width): 7 is "
                                 "larger than IFMAP Width 4 (a SCALE-Sim row convolves its "
                                 "IFMAP unpadded)")


# ---- 3. bytes that are not UTF-8 in a YAML file ----------------------------------------------

@pytest.mark.parametrize("command", ["--arch", "--workload", "--transforms", "sweep"])
def test_non_utf8_yaml_names_the_file_line_and_byte(tmp_path, capsys, command):
    data = b"name: x\n# caf\xe9 au lait\n"
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    args = ["sweep", path] if command == "sweep" else [
        "run", "-q", "--workload", "lenet5", command, path]
    offset = data.index(b"\xe9")
    line = refused(capsys, *args)
    assert f"{path}: line 2 (byte {offset}): not UTF-8" in line, line


# ---- 4. keys of another kind, input counts ---------------------------------------------------

@pytest.mark.parametrize(("layer", "needle"), [
    ({"kernel": 3}, "(f1).kernel: an fc layer takes no kernel"),
    ({"pad": 1}, "(f1).pad: an fc layer takes no pad"),
    ({"stride": 2}, "(f1).stride: an fc layer takes no stride"),
    ({"groups": 3}, "(f1).groups: an fc layer takes no groups"),
    ({"inputs": "[c1, input]"}, "(f1).inputs: an fc layer needs exactly 1 input"),
    ({"inputs": "[]"}, "(f1).inputs: an fc layer needs exactly 1 input, got []"),
    ({"kind": "conv", "inputs": "[c1, c1]"}, "(f1).inputs: a conv layer needs exactly 1"),
    ({"kind": "pool", "op": "max", "inputs": "[c1, c1]"}, "a pool layer needs exactly 1"),
    ({"kind": "pool", "op": "max", "groups": 2}, "(f1).groups: a pool layer takes no groups"),
    ({"kind": "add", "inputs": "[c1]"}, "an add layer needs exactly 2 inputs"),
    ({"kind": "act", "op": "tanh", "kernel": 1}, "(f1).kernel: an act layer takes no kernel"),
])
def test_layer_keys_of_another_kind_and_input_counts(tmp_path, layer, needle):
    path = write_network(tmp_path / "net.yaml",
                         [CONV, {"name": "f1", "kind": "fc", "out_channels": 5, **layer}])
    with pytest.raises(WorkloadError) as caught:
        load_network(path)
    assert str(caught.value).startswith(f"{path}: layers[1] (f1)")
    assert needle in str(caught.value) and "\n" not in str(caught.value)


# ---- 5. nothing to concatenate ---------------------------------------------------------------

def test_only_a_concat_runs_and_compare_needs_workloads(tmp_path, capsys):
    path = write_network(tmp_path / "cat.yaml",
                         [{"name": "cat", "kind": "concat", "inputs": "[input, input]"}])
    result = accelsim.simulate("diannao", path)
    assert list(result.layers["layer"]) == ["cat"] and result.counts.empty
    assert int(result.summary["cycles"]) == 0
    line = refused(capsys, "compare", "--archs", "diannao,cnvlutin", "--workload", ",")
    assert "compare: give at least one architecture and one workload" in line
    comparison = compare(["diannao", "cnvlutin"], [path])   # no conv layer at all
    assert comparison.networks["conv_speedup"].isna().all()
    with pytest.raises(AccelsimError, match="at least one architecture and one workload"):
        compare(["diannao"], [])


# ---- 6. sizes that cannot be allocated -------------------------------------------------------

def test_huge_tensors_and_parameters_are_refused_before_allocating(tmp_path, capsys,
                                                                   monkeypatch):
    path = write_network(tmp_path / "wide.yaml", [{**CONV, "out_channels": 1000000}],
                         (1000000, 8, 8))
    line = refused(capsys, "run", "-q", "--workload", path)
    assert "layer 'c1': its weight tensor would hold 9,000,000,000,000 elements" in line
    fc = write_network(tmp_path / "fc.yaml", [{"name": "f", "kind": "fc",
                                               "out_channels": 2500}], (8, 100, 100))
    monkeypatch.setattr(network, "machine_ram", lambda: 2 ** 40)
    assert load_network(fc).weight_count == 2500 * 8 * 100 * 100   # nothing allocated
    monkeypatch.setattr(network, "machine_ram", lambda: 2 ** 30)
    line = refused(capsys, "run", "-q", "--workload", fc)
    assert "GiB" in line and "more than this machine's 1.0 GiB of RAM" in line, line
    cfg = tmp_path / "big.cfg"
    cfg.write_text("[architecture_presets]\nArrayHeight = 999999999999\nArrayWidth = 8\n"
                   "IfmapSramSzkB = 64\nFilterSramSzkB = 64\nOfmapSramSzkB = 64\n"
                   "Dataflow = os\n[run_presets]\nInterfaceBandwidth = CALC\n")
    line = refused(capsys, "run", "--scalesim-config", cfg, "--workload", "lenet5")
    assert f"{cfg}: [architecture_presets] ArrayHeight: expected at most 16384" in line
    line = refused(capsys, "show", "systolic", "--set", "core_params.rows=999999999999")
    assert "core_params.rows: expected at most 16384" in line
    line = refused(capsys, "show", "diannao", "--set", "buffers.sb.size_kib=1.0e+12")
    assert "buffers.sb.size_kib: expected at most 1048576" in line


# ---- 7. --set values that are not YAML -------------------------------------------------------

@pytest.mark.parametrize(("args", "needle"), [
    (["show", "diannao", "--set", "buffers.sb.size_kib=}"],
     "--set buffers.sb.size_kib=}: value '}' is not valid YAML"),
    (["run", "-q", "--workload", "lenet5", "--transform", "prune:density=["],
     "--transform prune:density=[: density: value '[' is not valid YAML"),
])
def test_command_line_values_that_are_not_yaml(capsys, args, needle):
    assert needle in refused(capsys, *args)


# ---- 8. '%' in a SCALE-Sim config ------------------------------------------------------------

def test_percent_in_a_scalesim_cfg_is_plain_text(tmp_path):
    cfg = tmp_path / "pct.cfg"
    cfg.write_text("[general]\nrun_name = run_100%_os\n[architecture_presets]\n"
                   "ArrayHeight = 8\nArrayWidth = 8\nIfmapSramSzkB = 64\nFilterSramSzkB = 64\n"
                   "OfmapSramSzkB = 64\nDataflow = os\n[run_presets]\nInterfaceBandwidth = CALC\n")
    assert read_scalesim_config(cfg).run_name == "run_100%_os"


# ---- 9. a count of 0 is not "not given" ------------------------------------------------------

def test_zero_counts_are_errors_not_defaults():
    spec = {"arch": "diannao", "workloads": ["lenet5"], "sample": {"count": 0},
            "grid": {"dram.bytes_per_cycle": [4, 8, 16]}}
    with pytest.raises(SweepError, match="sample.count: expected an integer >= 1, got 0"):
        sweep_from_dict(spec, "s.yaml")
    net = load_network("lenet5")
    tensors = make_tensors(net)
    with pytest.raises(WorkloadError, match="c1.*filters_per_group=0 must divide"):
        apply_transform(net, tensors, {"kind": "prune_groups", "density": 0.5,
                                       "filters_per_group": 0})
    pruned = apply_transform(net, tensors, {"kind": "prune_groups", "density": 0.5})
    assert "all filters a group" in pruned.provenance["transforms"]


# ---- 10. output paths and tables that cannot be written or read ------------------------------

def test_output_paths_and_unreadable_tables(tmp_path, capsys):
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "file").write_text("x")
    line = refused(capsys, "run", "-q", "--workload", "lenet5", "-o", tmp_path / "dir.csv")
    assert "dir.csv: cannot write the output: it is a directory" in line
    line = refused(capsys, "run", "-q", "--workload", "lenet5", "-o",
                   tmp_path / "file" / "sub" / "x.csv")
    assert f"{tmp_path / 'file'} is a file, not a directory" in line
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("arch,workload,time_us\n")
    (tmp_path / "corrupt.parquet").write_bytes(b"not parquet")
    for name, needle in (("empty.csv", "not a readable .csv table"),
                         ("header.csv", "the table has no rows"),
                         ("corrupt.parquet", "not a readable .parquet table")):
        line = refused(capsys, "plot", "speedup", tmp_path / name, "-o", tmp_path / "f.png")
        assert f"{tmp_path / name}: {needle}" in line
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "ok.csv", index=False)
    (tmp_path / "ok.meta.json").write_text("[1, 2]")
    assert "ok.meta.json: not a run's .meta.json" in refused(
        capsys, "plot", "speedup", tmp_path / "ok.csv", "-o", tmp_path / "f.png")


# ---- 11. complex or pickled .npy inputs ------------------------------------------------------

def test_complex_and_pickled_npy_inputs(tmp_path, capsys):
    np.save(tmp_path / "complex.npy", np.ones((1, 32, 32), np.complex64))
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    line = refused(capsys, "run", "-q", "--workload", "lenet5", "--input",
                   tmp_path / "complex.npy")
    assert "expected a real numeric array" in line and "complex64" in line
    line = refused(capsys, "run", "-q", "--workload", "lenet5", "--input",
                   tmp_path / "pickle.npy")
    assert "pickle.npy: not a readable .npy array" in line


# ---- 12. models ONNX itself refuses ----------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"kernel_shape": [5, 5]}, "node 'conv' (Conv): kernel_shape [5, 5] disagrees with the "
                               "weights 'W' of shape [4, 3, 3, 3]"),
    ({"pads": [1, 1, 1, 1], "auto_pad": "SAME_UPPER"},
     "node 'conv' (Conv): pads [1, 1, 1, 1] and auto_pad SAME_UPPER cannot be used together"),
    ({"opset": 99}, "opset 99 is newer than any this onnx"),
    ({"colour": 3}, "ONNX's checker refuses the model: Unrecognized attribute: colour"),
])
def test_models_onnx_itself_refuses(tmp_path, kwargs, needle):
    path = conv_model(tmp_path / "m.onnx", **kwargs)
    with pytest.raises(WorkloadError) as caught:
        import_onnx(path)
    assert str(caught.value).startswith(f"{path}: ") and needle in str(caught.value)
    assert "\n" not in str(caught.value)


# ---- untrusted files stay data; an output never replaces an input ---------------------------
@pytest.mark.parametrize("link", [False, True])
def test_onnx_external_data_outside_the_models_folder(tmp_path, capsys, link):
    """A weight whose external data points out of the model's folder (``../``) or through a
    symlink is refused (ONNX's loader checks both; this keeps it so)."""
    import onnx
    from onnx import TensorProto

    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(np.ones(108, np.float32).tobytes())
    model = onnx.load(str(conv_model(folder / "plain.onnx")))
    weights = next(t for t in model.graph.initializer if t.name == "W")
    weights.data_location = TensorProto.EXTERNAL
    weights.ClearField("raw_data")
    weights.ClearField("float_data")
    location = "link.bin" if link else "../secret.bin"
    if link:
        (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    for key, value in (("location", location), ("offset", "0"), ("length", "432")):
        entry = weights.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "escape.onnx"
    path.write_bytes(model.SerializeToString())
    line = refused(capsys, "run", "--workload", path)
    assert "escape.onnx: not a readable ONNX model" in line
    assert ("symbolic link" if link else "outside the directory") in line


@pytest.mark.parametrize("which", ["workload", "recipe", "meta"])
def test_an_output_never_overwrites_an_input_or_a_directory(tmp_path, capsys, which):
    """Checked before the run: the table, its counts and meta files against every input."""
    network = write_network(tmp_path / "net.yaml",
                            [{"name": "c", "kind": "conv", "out_channels": 2, "kernel": 1}])
    if which == "workload":   # a SCALE-Sim topology given as its own output table
        topology = tmp_path / "rows.csv"
        topology.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter "
                            "Width, Channels, Num Filter, Strides,\nc1, 8, 8, 3, 3, 3, 4, 1,\n")
        args = ["--workload", topology, "--output", topology]
    elif which == "recipe":   # the meta file would replace the transforms recipe
        recipe = tmp_path / "out.meta.json"
        recipe.write_text("version: 1\ntransforms: []\n")
        args = ["--workload", network, "--transforms", recipe, "--output", tmp_path / "out.csv"]
    else:
        (tmp_path / "out.meta.json").mkdir()
        args = ["--workload", network, "--output", tmp_path / "out.csv"]
    line = refused(capsys, "run", *args)
    assert ("is a directory" if which == "meta" else "refusing to overwrite an input") in line
    assert not (tmp_path / "out.csv").exists()


# ---- the CLI fuzz families' finds (tests/test_fuzz_cli.py) -----------------------------------

def test_a_sweep_point_its_core_refuses_is_a_failed_point(tmp_path):
    """systolic loads dram.latency_cycles: 1 but its core refuses it: that point fails with
    the reason, the others run (it used to end the whole sweep naming the base file)."""
    spec = sweep_from_dict({"arch": "systolic", "workloads": ["lenet5"],
                            "grid": {"dram.latency_cycles": [0, 1]}}, "s.yaml")
    points = run_sweep(spec, jobs=1, progress=False).points.set_index("point")
    assert list(points["status"]) == ["ok", "failed"]
    assert points.loc[1, "error"].startswith("dram: the systolic core times its DRAM")


@pytest.mark.parametrize(("spec", "needle"), [
    ("prune:profile=3", "profile: expected a profile name or file path, got 3"),
    ("activation_profile:profile=[a]", "profile: expected a profile name or file path"),
    ("prune:density=0.5,layers=[]", "layers: expected at least one layer name, got []"),
    ("prune_groups:density=0.5,layers=[f]", "(prune_groups): layers: layer 'f' is a fc"),
])
def test_transform_options_of_the_wrong_shape(tmp_path, capsys, spec, needle):
    network = write_network(tmp_path / "net.yaml", [
        {"name": "c", "kind": "conv", "out_channels": 4, "kernel": 3, "relu": True},
        {"name": "f", "kind": "fc", "out_channels": 3}])
    line = refused(capsys, "run", "-q", "--workload", network, "--transform", spec)
    assert needle in line and line.count("--transform[0]") == 1


@pytest.mark.parametrize(("grid", "extra", "needle"), [
    ({"dram.bytes_per_cycle": [16, 16.0]}, {}, "values repeat"),
    ({"buffers.sb.size_kib": [8, "x"]}, {}, "values of different kinds"),
    ({"dram.bytes_per_cycle": [8]}, {"archs": ["diannao", "diannao"]},
     "archs: 2 entries named 'diannao'"),
    ({"dram.bytes_per_cycle": [8]}, {"workloads": ["lenet5", "lenet5"]},
     "workloads: 2 entries named 'lenet5'"),
    ({f"buffers.{b}.size_kib": list(range(1, 101)) for b in ("nbin", "nbout", "sb")}
     | {"dram.bytes_per_cycle": list(range(1, 101))}, {"sample": {"count": 2}},
     "grid: 100,000,000 points"),
])
def test_sweeps_that_would_repeat_a_run_or_cannot_be_listed(grid, extra, needle):
    """Equal values spelled apart, two archs or workloads of one name (one run twice in
    the tables), kinds Parquet cannot hold in one column, a grid too large to list."""
    spec = {"arch": "diannao", "workloads": ["lenet5"], "grid": grid} | extra
    if "archs" in extra:
        del spec["arch"]
    with pytest.raises(SweepError, match=needle):
        sweep_from_dict(spec, "s.yaml")


def test_a_key_given_twice_is_refused(tmp_path, capsys):
    arch = tmp_path / "twice.yaml"
    arch.write_text((accelsim.files.data_dir("arch_configs") / "diannao.yaml").read_text()
                    + "clock_mhz: 1960\n")
    line = refused(capsys, "run", "-q", "--arch", arch, "--workload", "lenet5")
    assert "twice.yaml: line" in line and "key 'clock_mhz' appears twice" in line
    cfg = tmp_path / "twice.cfg"
    cfg.write_text("[general]\nrun_name = t\n[architecture_presets]\nArrayHeight: 4\n"
                   "arrayheight: 8\nArrayWidth: 4\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\n"
                   "OfmapSramSzkB: 64\nIfmapOffset: 0\nFilterOffset: 10000000\n"
                   "OfmapOffset: 20000000\nDataflow: os\nBandwidth: 10\n"
                   "[run_presets]\nInterfaceBandwidth: CALC\n")
    with pytest.raises(AccelsimError, match="ArrayHeight is given twice"):
        read_scalesim_config(cfg)


def test_a_reader_that_leaves_early_ends_the_run_quietly(monkeypatch, capsys):
    """`accelsim run | head -1`: writing to the closed pipe ends the run with 141, quietly."""
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader has gone
    with open(write_end, "w", buffering=1) as closed_pipe:   # each line is written at once
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert main(["run", "--workload", "lenet5", "--values", "synthetic", "-q"]) == 141
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(("arch", "sram", "size_bytes", "needle"), [
    ("systolic", "ifmap_sram", 99, "holds 99 words; bandwidth_mode calc splits"),
    ("systolic", "filter_sram", 16, "holds 16 words; bandwidth_mode calc splits"),
    ("systolic", "ofmap_sram", 1, "holds 1 word; a double buffer"),
    ("systolic_tpu", "ifmap_sram", 3, "holds 1 word; a double buffer"),
    ("systolic_tpu", "ofmap_sram", 1, "holds 0 words; a double buffer"),
])
def test_systolic_srams_too_small_for_the_memory_model(capsys, arch, sram, size_bytes, needle):
    """SRAMs the SCALE-Sim memory model cannot run (empty sets or halves) used to hang or
    divide by zero; now a one-line error naming the key."""
    line = refused(capsys, "run", "-q", "--arch", arch, "--workload", "lenet5",
                   "--set", f"buffers.{sram}.size_kib={size_bytes / 1024!r}")
    assert f"buffers.{sram}.size_kib:" in line and needle in line, line

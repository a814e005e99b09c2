"""The systolic core against SCALE-Sim: its own reports, its fold formulas, a live run.

* ``tests/data/scalesim_reports/`` holds reports SCALE-Sim 3.0.0 wrote (not accelsim): ours
  must equal them cell for cell, in every dataflow and both bandwidth modes, stalls included,
  and with its sparsity on (N:M rows, the optimized mapping) SPARSE_REPORT too (the
  ``fc_overflow`` case: ``tests/test_systolic_traffic.py``).
* Without stalls a layer takes ``folds x fold rows - 1`` cycles; the expected values here are
  computed from SCALE-Sim's fold structure, independently of the kernels.
* ``test_live_scalesim`` (its command line, three cases) and
  ``test_live_scalesim_random_topologies`` (42 random cases in one SCALE-Sim process, a new
  seed each run) run SCALE-Sim itself on topologies and configurations not stored above:
  skipped unless ``ACCELSIM_SCALESIM_PYTHON`` names an interpreter that has scalesim or
  ``import scalesim`` works here (SCALE-Sim 3.0.0 needs numpy < 2.4, so ``.ci/run`` puts it in
  a second small venv and sets the variable). About 40 s in all.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pd_testing
import pytest

from accelsim import simulate
from accelsim.cli import main
from accelsim.config import arch_from_dict, load_arch, with_overrides
from accelsim.errors import ConfigError
from accelsim.fixedpoint import Fixed, quantize
from accelsim.scalesim.config import load_scalesim_workload, read_scalesim_config, scalesim_arch
from accelsim.scalesim.reports import REPORTS, report_tables, write_reports
from accelsim.sim.rows import topology_row
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors
from tests import reference
from tests.test_cores import TINY

DATA = Path(__file__).parent / "data" / "scalesim_reports"
CASES = sorted(p.name for p in DATA.iterdir() if p.is_dir())
ROOT = Path(__file__).resolve().parents[1]


def _rows(text: str) -> list[list[float | str]]:
    return [[_cell(c) for c in line.split(",")[:-1]] for line in text.splitlines()[1:] if line]


def _cell(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:   # SPARSE_REPORT's representation
        return text.strip()


def _our_reports(cfg: Path, topology: Path, directory: Path) -> tuple[dict, pd.DataFrame]:
    """Our reports (text) and per-layer table: each topology row its own network, as
    SCALE-Sim runs them (a row's N:M pruning its weights, and its timing when sparse)."""
    arch = scalesim_arch(cfg)
    layers = []
    for network in load_scalesim_workload(topology):
        row_arch, tensors = topology_row(arch, network, make_tensors(network, 0))
        layers.append(simulate(row_arch, network, tensors=tensors).layers)
    layers = pd.concat(layers, ignore_index=True)
    paths = write_reports(layers, arch, directory)
    return {p.stem: p.read_text() for p in paths}, layers


@pytest.mark.parametrize("case", [c for c in CASES
                                  if not c.startswith(("depthwise", "fc_overflow"))])
def test_reports_equal_scalesims_own(case, tmp_path):
    """Every report SCALE-Sim wrote (SPARSE_REPORT too for the N:M rows of ``sparse.csv``
    with its sparsity on), cell for cell, and the same columns."""
    topology = DATA / ("sparse.csv" if case.startswith("sparse") else "tiny.csv")
    ours, layers = _our_reports(DATA / case / "scale.cfg", topology, tmp_path)
    names = sorted(p.stem for p in (DATA / case).glob("*_REPORT.csv"))
    assert sorted(ours) == names and len(names) == 3 + case.startswith("sparse")
    for name in names:
        expected = (DATA / case / f"{name}.csv").read_text()
        assert _rows(ours[name]) == _rows(expected), f"{case}: {name}"
        assert ours[name].splitlines()[0] == expected.splitlines()[0]    # same columns
    compute = _rows((DATA / case / "COMPUTE_REPORT.csv").read_text())
    gemm = layers[layers["kind"].isin(["conv", "fc"])]
    assert gemm["cycles"].tolist() == [int(r[2]) for r in compute]
    assert gemm["stall_cycles"].tolist() == [int(r[3]) for r in compute]
    assert (gemm["compute_cycles"] + gemm["stall_cycles"] == gemm["cycles"]).all()


def test_reference_cases_exercise_the_memory_model():
    stalls = {case: sum(r[3] for r in _rows((DATA / case / "COMPUTE_REPORT.csv").read_text()))
              for case in CASES}
    assert all(stalls[f"{df}_user"] > 0 for df in ("os", "ws", "is"))   # reads miss
    calc = _rows((DATA / "os_calc" / "DETAILED_ACCESS_REPORT.csv").read_text())
    ifmap_words = [8 * 30 * 30, 24 * 13 * 13, 40 * 11 * 11, 40 * 11 * 11, 70]
    assert any(row[12] > words for row, words in zip(calc, ifmap_words, strict=True))


def test_dp_rows_are_scalesims_per_channel_layers(tmp_path):
    """SCALE-Sim runs a ``DP`` row as one layer per channel; so do we, report row for row."""
    ours, layers = _our_reports(DATA / "depthwise_os_user" / "scale.cfg",
                                DATA / "depthwise.csv", tmp_path)
    for name in REPORTS:
        theirs = _rows((DATA / "depthwise_os_user" / f"{name}.csv").read_text())
        assert len(theirs) == 9 and _rows(ours[name]) == theirs, name
    assert layers["layer"].tolist()[1:3] == ["Conv2_dw_DPChannel_0", "Conv2_dw_DPChannel_1"]


def test_sparse_rows_prune_where_scalesim_times_and_outputs_stay_exact():
    """With SparsitySupport a 2:4 row keeps the first 2 of every 4 window elements (SCALE-Sim's
    positions), in values and in timing: fewer cycles and array MACs than dense, outputs
    still the reference's."""
    arch = scalesim_arch(DATA / "sparse_ws_user" / "scale.cfg")
    network = load_scalesim_workload(DATA / "sparse.csv")[0]
    assert network.sparsity == (2, 4) and arch.core_params.sparsity_support
    row_arch, tensors = topology_row(arch, network, make_tensors(network, 0))
    assert (row_arch.core_params.sparsity_n, row_arch.core_params.sparsity_m) == (2, 4)
    (layer,) = network.layers
    window = tensors.weights[layer.name].transpose(0, 2, 3, 1).reshape(layer.out_channels, -1)
    kept = np.arange(window.shape[1]) % 4 < 2
    assert not window[:, ~kept].any() and window[:, kept].all()
    sparse = simulate(row_arch, network, tensors=tensors, keep_outputs=True)
    _check_outputs(row_arch, network, tensors)
    dense = simulate(with_overrides(row_arch, {"core_params.sparsity_support": False}), network,
                     tensors=tensors).layers.iloc[0]
    row = sparse.layers.iloc[0]
    assert row["array_mac"] == layer.macs * kept.sum() // kept.size < dense["array_mac"]
    assert row["cycles"] < dense["cycles"] and row["scalesim_macs"] == dense["scalesim_macs"]


def test_optimized_mapping_prunes_every_layer_at_its_drawn_pattern():
    """SCALE-Sim's optimized mapping draws each filter's N of every BlockSize from its seed,
    whatever the row's N:M (a dense row too): the weights are pruned there, outputs exact."""
    from accelsim.workload.formats.topology_csv import optimized_counts

    arch = scalesim_arch(DATA / "sparse_ws_optimized_calc" / "scale.cfg")
    network = load_scalesim_workload(DATA / "sparse.csv")[-2]     # Conv4, no Sparsity cell
    assert network.sparsity == (1, 1) and arch.core_params.sparsity_optimized_mapping
    row_arch, tensors = topology_row(arch, network, make_tensors(network, 0))
    (layer,) = network.layers
    window = tensors.weights[layer.name].transpose(0, 2, 3, 1).reshape(layer.out_channels, -1)
    counts = optimized_counts(layer.out_channels, 4, 40)
    assert len(set(counts.tolist())) == 2      # 1 or 2 of every 4, per filter
    keep = np.arange(window.shape[1])[None, :] % 4 < counts[:, None]
    assert not window[~keep].any() and window[keep].all()
    _check_outputs(row_arch, network, tensors)


# ---- closed forms: SCALE-Sim's folds without stalls --------------------------------------
SHAPES = network_from_dict({
    "name": "shapes", "input": [6, 17, 15],
    "layers": [
        {"name": "odd_stride", "kind": "conv", "out_channels": 20, "kernel": 4, "stride": 3,
         "pad": [1, 2, 0, 1], "relu": True},
        {"name": "wide", "kind": "conv", "out_channels": 45, "kernel": 3, "pad": 1},
        {"name": "avg", "kind": "pool", "op": "avg", "kernel": 3, "stride": 2, "pad": 1},
        {"name": "fc", "kind": "fc", "out_channels": 7},
    ]}, "shapes")


def _expected(layer, dataflow: str, rows: int, cols: int) -> dict:
    """Cycles, utilizations and SRAM requests of one layer from SCALE-Sim's fold model."""
    height = layer.in_h + layer.pad[0] + layer.pad[2]
    width = layer.in_w + layer.pad[1] + layer.pad[3]
    e = math.ceil((height - layer.kernel_h + layer.stride[0]) / layer.stride[0])
    f = math.ceil((width - layer.kernel_w + layer.stride[1]) / layer.stride[1])
    px, win, m = e * f, layer.kernel_h * layer.kernel_w * layer.in_channels, layer.out_channels
    sr, sc, t = {"os": (px, m, win), "ws": (win, m, px), "is": (win, px, m)}[dataflow]
    fold_rows = t + rows + cols - 2 if dataflow == "os" else 2 * rows + t + cols - 2
    util_rows = fold_rows if dataflow == "os" else fold_rows + cols - 1
    used = [min(rows, sr - i * rows) * min(cols, sc - j * cols)
            for j in range(math.ceil(sc / cols)) for i in range(math.ceil(sr / rows))]
    reads = {"os": (math.ceil(m / cols) * px * win, math.ceil(px / rows) * win * m),
             "ws": (math.ceil(m / cols) * px * win, win * m),
             "is": (win * px, math.ceil(px / cols) * m * win)}[dataflow]
    writes = px * m * (1 if dataflow == "os" else math.ceil(win / rows))
    if dataflow == "os":
        writes += len(used) * (rows + cols)
    return {"cycles": len(used) * fold_rows - 1,
            "mapping_efficiency": sum(u / (rows * cols) for u in used) / len(used),
            "compute_utilization": sum(u * t / (rows * cols * util_rows)
                                       for u in used) / len(used),
            "ifmap_sram_read": reads[0], "filter_sram_read": reads[1],
            "ofmap_sram_write": writes, "scalesim_macs": px * m * win}


def _arch(dataflow: str, rows: int = 8, cols: int = 5, **params):
    return arch_from_dict({
        "name": "t", "core": "systolic", "clock_mhz": 1000,
        "dram": {"bytes_per_cycle": None, "latency_cycles": 0},
        "buffers": {b: {"size_kib": 1024} for b in ("ifmap_sram", "filter_sram", "ofmap_sram")},
        "core_params": {"rows": rows, "cols": cols, "dataflow": dataflow, **params}}, "t")


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_cycles_follow_scalesims_fold_model(dataflow):
    layers = simulate(_arch(dataflow), SHAPES).layers.set_index("layer")
    for layer in (lyr for lyr in SHAPES if lyr.has_weights):
        want = _expected(layer, dataflow, 8, 5)
        got = layers.loc[layer.name]
        assert got["stall_cycles"] == 0
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12), f"{layer.name}: {key}"
        assert got["ideal_cycles"] == math.ceil(layer.macs / 40)


def test_faithful_switch_drops_the_quirks():
    compat = simulate(_arch("os"), SHAPES, keep_outputs=True)
    faithful = simulate(_arch("os", scalesim_compat=False), SHAPES, keep_outputs=True)
    c, f = (r.layers.set_index("layer") for r in (compat, faithful))
    odd = SHAPES.layers[0]
    assert c.loc["odd_stride", "scalesim_macs"] > odd.macs == f.loc["odd_stride", "scalesim_macs"]
    wide = c.loc["wide"]     # the stride divides: same folds; count cycles, not the last index
    assert f.loc["wide", "cycles"] == wide["cycles"] + 1
    assert f.loc["wide", "ofmap_sram_write"] == wide["ofmap_sram_write"] - wide["folds"] * 13
    for name in ("odd_stride", "wide", "fc"):
        np.testing.assert_array_equal(compat.outputs[name].q, faithful.outputs[name].q)


@pytest.mark.parametrize("params", [{"precision": "fp32"},
                                    {"core_params.scalesim_compat": False,
                                     "core_params.dataflow": "is"}])
def test_outputs_equal_reference(params):
    arch = with_overrides(load_arch("systolic_ws"), params)
    for network in (TINY, SHAPES):
        _check_outputs(arch, network)


def _check_outputs(arch, network, tensors=None) -> None:
    tensors = make_tensors(network, 3) if tensors is None else tensors
    result = simulate(arch, network, tensors=tensors, keep_outputs=True)
    for layer in network:
        inputs = [result.outputs[name] for name in layer.inputs]
        out = result.outputs[layer.name]
        weights, biases = tensors.weights.get(layer.name), tensors.biases.get(layer.name)
        if isinstance(out, Fixed):
            q, frac = reference.run_layer(layer, [(x.q, x.frac) for x in inputs], weights,
                                          biases, "fixed16")
            np.testing.assert_array_equal(out.q, q, err_msg=layer.name)
        else:
            ref = reference.run_layer(layer, inputs, weights, biases, "fp32")
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_zero_operand_macs_count_products_with_a_zero():
    tensors = make_tensors(TINY, 5)
    result = simulate("systolic", TINY, tensors=tensors, keep_outputs=True)
    layers = result.layers.set_index("layer")
    for name in ("c1", "dw", "pw"):
        layer = next(lyr for lyr in TINY if lyr.name == name)
        x_nonzero = (result.outputs[layer.inputs[0]].q != 0).astype(np.float64)
        w_nonzero = (quantize(tensors.weights[name]).q != 0).astype(np.float64)
        nonzero_products = reference.conv2d(x_nonzero, w_nonzero, stride=layer.stride,
                                            pad=layer.pad, groups=layer.groups).sum()
        assert layers.loc[name, "zero_operand_macs"] == layer.macs - round(nonzero_products)
    assert layers.loc["pw", "zero_operand_macs"] > 0     # dw's ReLU zeros


def test_count_only_run_equals_full_run():
    """A sweep reuses recorded values; the core then times and counts without the GEMM."""
    from accelsim.sim.simulate import record_values

    full, values = record_values("systolic", TINY)
    other = with_overrides(load_arch("systolic"), {"core_params.dataflow": "is"})
    pd_testing.assert_frame_equal(simulate(other, TINY, reuse=values).layers,
                                  simulate(other, TINY).layers)
    pd_testing.assert_frame_equal(simulate("systolic", TINY, reuse=values).layers, full.layers)


# ---- SCALE-Sim config files and the command line -----------------------------------------
def _cfg(tmp_path, text: str) -> Path:
    path = tmp_path / "x.cfg"
    path.write_text(text)
    return path


def test_config_maps_onto_the_arch():
    config = read_scalesim_config(DATA / "is_user" / "scale.cfg")
    arch = scalesim_arch(config)
    p = arch.core_params
    assert (p.rows, p.cols, p.dataflow, p.bandwidth_mode) == (16, 12, "is", "user")
    assert (p.ifmap_words_per_cycle, p.filter_words_per_cycle, p.ofmap_words_per_cycle) == \
        (7, 7, 7)
    assert arch.buffers["ofmap_sram"].size_kib == 4 and arch.name == "is_user"


@pytest.mark.parametrize("text, expected", [
    ("[architecture_presets]\nArrayHieght: 8\n", "ArrayHieght: unknown key (did you mean "
                                                 "'ArrayHeight'?)"),
    ("[architecture_presets]\nArrayWidth: 0\n", "[architecture_presets] ArrayWidth: expected "
                                               "a positive integer, got '0'"),
    ("[architecture_presets]\nDataflow: rs\n", "Dataflow: expected os or ws or is, got 'rs'"),
    ("[sparsity]\nSparsitySupport: true\nSparseRep: CSR\n", "[sparsity] SparseRep: expected "
                                                            "csr or csc or ellpack_block"),
    ("[architecture_presets]\nDataflow: os\n[sparsity]\nSparsitySupport: true\nSparseRep: csr\n"
     "OptimizedMapping: true\n", "[sparsity] OptimizedMapping: SCALE-Sim 3.0.0 runs it in "
                                 "Dataflow ws only (it fails in os)"),
    ("[architecture_presets]\nArrayHeight: 8\nDataflow: ws\n[sparsity]\nSparsitySupport: true\n"
     "SparseRep: csr\nOptimizedMapping: true\nBlockSize: 3\n", "[sparsity] BlockSize: 3 must "
                                                               "be even"),
    ("[architecture_presets]\nFilterOffset: 0\n[sparsity]\nSparsitySupport: true\n",
     "[architecture_presets] FilterOffset: 0 is not supported with SparsitySupport"),
    ("[layout]\nIfmapCustomLayout: True\n", "[layout] IfmapCustomLayout: not supported"),
    ("[run_presets]\nUseRamulatorTrace: True\n", "[run_presets] UseRamulatorTrace: not "
                                                  "supported"),
    ("[run_presets]\nInterfaceBandwidth: USER\n", "Bandwidth: required when InterfaceBandwidth"),
    ("[general]\nrun_name = x\n", "[architecture_presets] ArrayHeight: missing required key"),
    ("not an ini file", "not a SCALE-Sim config file"),
])
def test_config_errors_name_file_and_key(tmp_path, text, expected):
    path = _cfg(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        read_scalesim_config(path)
    lines = str(err.value).splitlines()
    assert any(expected in line for line in lines), lines
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_dram_must_be_left_to_the_core():
    arch = with_overrides(load_arch("systolic"), {"dram.bytes_per_cycle": 16})
    with pytest.raises(ConfigError, match="dram.bytes_per_cycle: null"):
        simulate(arch, TINY)


def test_cli_takes_scalesim_files_and_writes_its_reports(tmp_path, capsys):
    case = DATA / "os_user"
    code = main(["run", "--scalesim-config", str(case / "scale.cfg"), "--workload",
                 str(DATA / "tiny.csv"), "--scalesim-reports", str(tmp_path), "-q"])
    assert code == 0
    for name in REPORTS:
        assert _rows((tmp_path / f"{name}.csv").read_text()) == \
            _rows((case / f"{name}.csv").read_text())
    sparse = DATA / "sparse_ws_optimized_calc"     # N:M rows, SparsitySupport, SPARSE_REPORT
    assert main(["run", "--scalesim-config", str(sparse / "scale.cfg"), "--workload",
                 str(DATA / "sparse.csv"), "--scalesim-reports", str(tmp_path / "s"), "-q"]) == 0
    for expected in sparse.glob("*_REPORT.csv"):
        assert (tmp_path / "s" / expected.name).read_text() == expected.read_text()
    bad = _cfg(tmp_path, "[architecture_presets]\nArrayWidth: x\n")
    capsys.readouterr()
    assert main(["run", "--scalesim-config", str(bad), "--workload", "lenet5", "-q"]) == 2
    assert "ArrayWidth: expected a positive integer" in capsys.readouterr().err
    assert main(["run", "--arch", "diannao", "--workload", "lenet5", "--scalesim-reports",
                 str(tmp_path)]) == 2
    assert "need the systolic core" in capsys.readouterr().err


def test_report_tables_skip_non_scalesim_layers():
    result = simulate("systolic", TINY)
    tables = report_tables(result.layers, load_arch("systolic"))
    assert list(tables["COMPUTE_REPORT"]["LayerID"]) == [0, 1, 2, 3]   # c1, dw, pw, fc


# ---- SCALE-Sim itself ----------------------------------------------------------------------
def _scalesim_python() -> str | None:
    if os.environ.get("ACCELSIM_SCALESIM_PYTHON"):
        return os.environ["ACCELSIM_SCALESIM_PYTHON"]
    return sys.executable if importlib.util.find_spec("scalesim") else None


# Small enough that SCALE-Sim takes ~2 s: a stride (3) that does not divide H - R (quirk 1),
# several row and column folds on 6 x 9, and 2 KB SRAMs at 5 words a cycle, so USER stalls.
LIVE_TOPOLOGY = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
    "Num Filter, Strides,\n"
    "Conv1, 20, 20, 4, 4, 3, 16, 3,\nConv2, 6, 6, 3, 3, 16, 20, 1,\nFC, 1, 1, 1, 1, 20, 10, 1,\n")


@pytest.mark.skipif(_scalesim_python() is None, reason="scalesim is not installed")
@pytest.mark.parametrize("dataflow, mode", [("ws", "USER"), ("is", "CALC"), ("os", "USER")])
def test_live_scalesim(tmp_path, dataflow, mode):
    sys.path.insert(0, str(ROOT))
    from benchmarks.vs_scalesim import run_scalesim, write_cfg

    topology = tmp_path / "live.csv"
    topology.write_text(LIVE_TOPOLOGY)
    cfg = write_cfg(tmp_path / "live.cfg", name="live", rows=6, cols=9, dataflow=dataflow,
                    mode=mode, sram_kb=2, bandwidth=5)
    theirs = run_scalesim(_scalesim_python(), cfg, topology, tmp_path / "ss")
    ours, _ = _our_reports(cfg, topology, tmp_path / "ours")
    assert len(_rows(theirs["reports"]["COMPUTE_REPORT"])) == 3
    if mode == "USER":
        assert sum(r[3] for r in _rows(theirs["reports"]["COMPUTE_REPORT"])) > 0   # stalls
    for name in REPORTS:
        assert _rows(ours[name]) == _rows(theirs["reports"][name]), name


LIVE_CASES = 42
TINY_ARRAYS = ((1, 2), (2, 1), (1, 3), (3, 1), (2, 2))


def _ratio(rng: np.random.Generator) -> str:
    m = int(rng.integers(1, 7))
    return f" {rng.integers(1, m + 1)}:{m},"


def _random_topology(rng: np.random.Generator, kind: str, dp_first: bool) -> str:
    """One to three independent rows (no row reads another's output) of random sizes: odd
    strides, filters as large as the IFMAP, ``DP`` rows, sometimes a Sparsity column of
    random N:M (conv); or M, N, K rows, M = 1 among them (GEMM)."""
    sparse = rng.random() < 0.5
    rows = []
    for index in range(int(rng.integers(1, 4))):
        ratio = _ratio(rng) if sparse else ""
        if kind == "gemm":
            m, n, k = (int(v) for v in rng.integers(1, 24, size=3))
            rows.append(f"g{index}, {1 if rng.random() < 0.2 else m}, {n}, {k},{ratio}")
            continue
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        r = h if rng.random() < 0.3 else int(rng.integers(1, h + 1))
        s = w if rng.random() < 0.3 else int(rng.integers(1, w + 1))
        dp = (dp_first and index == 0) or rng.random() < 0.2
        channels = int(rng.integers(1, 4) if dp else rng.integers(1, 8))
        rows.append(f"Conv{index}{'_DP' if dp else ''}, {h}, {w}, {r}, {s}, {channels}, "
                    f"{rng.integers(1, 13)}, {rng.integers(1, 5)},{ratio}")
    header = "Layer, M, N, K," if kind == "gemm" else LIVE_TOPOLOGY.splitlines()[0]
    return header + (" Sparsity," if sparse else "") + "\n" + "\n".join(rows) + "\n"


def _live_case(rng: np.random.Generator, index: int) -> dict:
    """Case ``index``: every dataflow with sparsity on and off within six cases (ws mostly
    with the optimized mapping, random BlockSize and seed), GEMM every fourth, a tiny array
    every seventh (else up to 9 x 9, mostly non-square)."""
    kind = "gemm" if index % 4 == 3 else "conv"
    rows, cols = TINY_ARRAYS[index // 7 % len(TINY_ARRAYS)] if index % 7 == 0 else \
        (int(v) for v in rng.integers(1, 10, size=2))
    if rows * cols < 2:
        rows += 1
    dataflow = ("os", "ws", "is")[index % 3]
    sparsity = {"rep": str(rng.choice(["csr", "csc", "ellpack_block"]))} \
        if index // 3 % 2 else None
    blocks = [b for b in range(2, rows + 1, 2) if 2 * rows % b == 0]
    if sparsity and dataflow == "ws" and blocks and rng.random() < 0.6:   # optimized mapping
        sparsity.update(optimized=True, block=int(rng.choice(blocks)),
                        seed=int(rng.integers(0, 2 ** 32)))
    return {"kind": kind, "topology": _random_topology(rng, kind, index % 5 == 0),
            "rows": rows, "cols": cols, "dataflow": dataflow,
            "mode": str(rng.choice(["CALC", "USER"])), "sram_kb": int(rng.integers(1, 3)),
            "bandwidth": int(rng.integers(1, 10)), "sparsity": sparsity}


@pytest.mark.skipif(_scalesim_python() is None, reason="scalesim is not installed")
def test_live_scalesim_random_topologies(tmp_path):
    """Property test against SCALE-Sim itself: LIVE_CASES random topologies and configs (a new
    seed each run, ``ACCELSIM_LIVE_SEED`` to repeat one), all run by SCALE-Sim in one
    process; every report equal cell for cell. A failure names the seed and the case."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.vs_scalesim import (
        accelsim_reports,
        compare_reports,
        run_scalesim_batch,
        write_cfg,
    )

    seed = int(os.environ.get("ACCELSIM_LIVE_SEED") or np.random.SeedSequence().entropy % 2**32)
    print(f"live SCALE-Sim property test: ACCELSIM_LIVE_SEED={seed}")
    rng = np.random.default_rng(seed)
    specs, cases = [], []
    for index in range(LIVE_CASES):
        spec = _live_case(rng, index)
        topology = tmp_path / f"case{index}.csv"
        topology.write_text(spec["topology"])
        cfg = write_cfg(tmp_path / f"case{index}.cfg", name=f"case{index}", rows=spec["rows"],
                        cols=spec["cols"], dataflow=spec["dataflow"], mode=spec["mode"],
                        sram_kb=spec["sram_kb"], bandwidth=spec["bandwidth"],
                        sparsity=spec["sparsity"])
        specs.append(spec)
        cases.append({"cfg": cfg, "topology": topology, "gemm": spec["kind"] == "gemm"})
    assert any("_DP" in s["topology"] for s in specs) and any(s["sparsity"] for s in specs)
    theirs = run_scalesim_batch(_scalesim_python(), cases, tmp_path / "scalesim")
    failures = []
    for index, (spec, case, reports) in enumerate(zip(specs, cases, theirs, strict=True)):
        cells, differ, _, where = compare_reports(accelsim_reports(case["cfg"], case["topology"]),
                                                  reports)
        assert cells > 0 or differ, f"case {index}: nothing compared"
        if differ:
            failures.append(f"case {index} ({where}): {spec}")
    assert not failures, f"ACCELSIM_LIVE_SEED={seed}: {len(failures)} of {LIVE_CASES} cases " \
                         "differ from SCALE-Sim:\n" + "\n".join(failures)

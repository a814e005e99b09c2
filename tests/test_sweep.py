"""Sweeps: reused values give full-run results, specs are checked, runs resume after a kill,
invalid points are recorded, and local processes and a Dask cluster give the same tables."""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim.cli import main
from accelsim.config import load_arch, with_overrides
from accelsim.errors import MappingError
from accelsim.files import shipped
from accelsim.kernels import dense, zero_skip
from accelsim.sim.simulate import record_values, simulate
from accelsim.sim.values import value_key
from accelsim.sweep import (
    SweepError,
    load_sweep,
    make_sweep,
    pareto_front,
    points,
    run_sweep,
    runs_directory,
)
from accelsim.workload import load_network
from accelsim.workload.formats.yaml_network import network_from_dict
from accelsim.workload.tensors import make_tensors

REPO = Path(__file__).resolve().parents[1]
ID_COLUMNS = ["point", "arch", "workload"]

SMALL_SPEC = {
    "name": "small", "input": [5, 14, 13],
    "layers": [
        {"name": "c1", "kind": "conv", "out_channels": 24, "kernel": 3, "pad": 1, "relu": True},
        {"name": "c2", "kind": "conv", "out_channels": 32, "kernel": 3, "relu": True},
        {"name": "dw", "kind": "conv", "groups": "depthwise", "kernel": 3, "stride": 2,
         "pad": 1, "relu": True},
        {"name": "pw", "kind": "conv", "out_channels": 32, "kernel": 1},
        {"name": "sum", "kind": "add", "inputs": ["pw", "dw"], "relu": True},
        {"name": "mp", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "fc", "kind": "fc", "out_channels": 10},
    ]}
SMALL = network_from_dict(SMALL_SPEC, "small")


def _variant(arch, network=SMALL):
    """Another config of the same core with other results on ``network`` (cycles, traffic or
    counts): a quarter of the DRAM bandwidth (where the config sets one) and buffers shrunk
    until data that stayed on chip has to move."""
    bandwidth = arch.dram.bytes_per_cycle
    slower = {"dram.bytes_per_cycle": bandwidth / 4} if bandwidth else {}
    layers = simulate(arch, network).layers
    for divisor in (1, 4, 16, 64, 256):
        changes = {f"buffers.{name}.size_kib": buffer.size_kib / divisor
                   for name, buffer in arch.buffers.items()}
        variant = with_overrides(arch, {**slower, **changes})
        try:
            if not simulate(variant, network).layers.equals(layers):
                return variant
        except MappingError:
            break
    raise AssertionError(f"no variant of {arch.name} changes its results on {network.name}")


# ---- reusing values --------------------------------------------------------------------------
@pytest.mark.parametrize("config", sorted(shipped("arch_configs")))
def test_counting_on_reused_values_equals_a_full_run(config):
    tensors = make_tensors(SMALL, 4)
    recorder = load_arch(config)
    _, values = record_values(recorder, SMALL, seed=4, tensors=tensors)
    other = _variant(recorder)
    full = simulate(other, SMALL, seed=4, tensors=tensors)
    counted = simulate(other, SMALL, seed=4, reuse=values)
    pd.testing.assert_frame_equal(counted.layers, full.layers)
    pd.testing.assert_frame_equal(counted.counts, full.counts)
    assert counted.meta == full.meta


@pytest.mark.parametrize("config", ["diannao", "cnvlutin"])
def test_cores_with_a_counting_kernel_skip_the_arithmetic(config, monkeypatch):
    calls = []
    for module, name in ((dense, "conv_tiles"), (zero_skip, "zero_skip_conv")):
        original = getattr(module, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            calls.append((_name, kwargs.get("compute", True)))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    arch = load_arch(config)
    _, values = record_values(arch, SMALL, seed=1)
    variant = _variant(arch)
    calls.clear()
    simulate(variant, SMALL, seed=1, reuse=values)
    assert calls and all(compute is False for _, compute in calls), calls
    if config == "cnvlutin":
        assert ("zero_skip_conv", False) in calls   # the zero-skipping path was counted too


def test_value_keys_say_which_configs_compute_the_same_values():
    diannao = load_arch("diannao")
    assert value_key(diannao) == value_key(_variant(diannao)) == value_key(
        load_arch("dadiannao")) == value_key(load_arch("cnvlutin"))
    cnvlutin = load_arch("cnvlutin")
    loose = with_overrides(cnvlutin, {"core_params.ineffectual_threshold": 0.1})
    assert value_key(loose) != value_key(cnvlutin)
    fp32 = with_overrides(diannao, {"precision": "fp32"})
    assert value_key(fp32) != value_key(_variant(fp32))   # float sums depend on the tiling
    _, values = record_values(load_arch("dadiannao"), SMALL)   # another core, same key
    pd.testing.assert_frame_equal(simulate(cnvlutin, SMALL, reuse=values).layers,
                                  simulate(cnvlutin, SMALL).layers)
    with pytest.raises(ValueError, match="value key"):
        simulate(loose, SMALL, reuse=values)
    with pytest.raises(ValueError, match="network"):
        simulate(cnvlutin, load_network("lenet5"), reuse=values)


# ---- the spec --------------------------------------------------------------------------------
def test_the_shipped_sweep_covers_three_keys_two_workloads_and_fifty_points():
    sweep = load_sweep(REPO / "arch_configs" / "sweeps" / "diannao.yaml")
    assert len(sweep.keys) >= 3 and len(sweep.workloads) >= 2
    assert len(points(sweep)) >= 50
    assert load_sweep("diannao") == sweep   # a shipped sweep by name
    for key in sweep.keys:
        with_overrides(sweep.archs[0], {key: sweep.grid[key][0]})   # real config keys


def test_points_walk_the_grid_in_order_and_samples_are_stable():
    sweep = make_sweep("diannao", "lenet5", {"buffers.sb.size_kib": [8, 16, 32],
                                             "dram.bytes_per_cycle": [4, 16]})
    expected = list(itertools.product([8, 16, 32], [4, 16]))
    got = [(p.settings["buffers.sb.size_kib"], p.settings["dram.bytes_per_cycle"])
           for p in points(sweep)]
    assert got == expected
    assert [p.arch.buffers["sb"].size_kib for p in points(sweep)] == [v for v, _ in expected]
    few = make_sweep("diannao", "lenet5", sweep.grid, sample=3, sample_seed=7)
    more = make_sweep("diannao", "lenet5", sweep.grid, sample=5, sample_seed=7)
    few_ids = [p.index for p in points(few)]
    assert len(few_ids) == 3 and few_ids == sorted(few_ids)
    assert few_ids == [p.index for p in points(few)]                    # deterministic
    assert set(few_ids) <= {p.index for p in points(more)}              # grows, keeps


@pytest.mark.parametrize("spec, message", [
    ({"arch": "diannao", "workloads": ["lenet5"], "grid": {"dram.bytes_per_cycle": [4]},
      "sede": 1}, "sede: unknown key (did you mean 'seed'?)"),
    ({"arch": "diannao", "workloads": ["lenet5"], "grid": {"buffers.sb.size": [4]}},
     "grid.buffers.sb.size: no value is valid for diannao"),
    ({"arch": "diannao", "workloads": ["lenet5"], "grid": {"dram.bytes_per_cycle": 4}},
     "grid.dram.bytes_per_cycle: expected a non-empty list"),
    ({"arch": "diannao", "workloads": ["lenet7"], "grid": {"dram.bytes_per_cycle": [4]}},
     "workloads: lenet7"),
    ({"arch": "diannao", "workloads": ["lenet5"], "grid": {"dram.bytes_per_cycle": [4]},
      "sample": {"count": 2, "sed": 1}}, "sample: expected a count"),
])
def test_bad_sweep_files_are_one_line_errors_naming_the_key(write_yaml, spec, message):
    path = write_yaml("bad.yaml", spec)
    with pytest.raises(SweepError) as err:
        load_sweep(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_the_cli_reports_a_bad_sweep_in_one_line(write_yaml, capsys):
    path = write_yaml("bad.yaml", {"arch": "diannao", "workloads": ["lenet5"],
                                   "grid": {"core_params.tm": [8]}})
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grid.core_params.tm" in err[0] and "unknown key" in err[0]


# ---- running ---------------------------------------------------------------------------------
def test_sweep_rows_equal_direct_simulations_and_failures_keep_their_reason():
    sweep = make_sweep("diannao", ["lenet5", SMALL],
                       {"buffers.sb.size_kib": [1, 32], "dram.bytes_per_cycle": [-1, 4]})
    result = run_sweep(sweep, jobs=1, progress=False)
    table = result.points.set_index(["point", "workload"])
    assert len(table) == 8 and (result.points.groupby(["point", "workload"]).size() == 1).all()
    expected_ok = 0
    for point in points(sweep):
        for network in (load_network("lenet5"), SMALL):
            row = table.loc[(point.index, network.name)]
            if point.settings["dram.bytes_per_cycle"] < 0:
                assert row["status"] == "failed" and "dram.bytes_per_cycle" in row["error"]
                continue
            try:
                expected = simulate(point.arch, network, seed=0)
            except MappingError as err:   # the direct run fails: the sweep must say why
                assert row["status"] == "failed" and "no tile fits" in row["error"]
                assert row["error"] in str(err)
                continue
            assert row["status"] == "ok" and row["cycles"] == expected.summary["cycles"]
            got = result.layers[(result.layers["point"] == point.index)
                                & (result.layers["workload"] == network.name)]
            got = got.drop(columns=ID_COLUMNS + sweep.keys).reset_index(drop=True)
            others = got.columns.difference(expected.layers.columns)
            assert (got[others] == 0).all().all()   # other runs' count columns: no events
            pd.testing.assert_frame_equal(got[expected.layers.columns], expected.layers)
            expected_ok += 1
    assert (result.points["status"] == "ok").sum() == expected_ok >= 2


def _small_sweep(write_yaml, workloads=("lenet5",), sb=(4, 8, 16, 32, 64), dram=(2, 4, 8, 16)):
    return write_yaml("sweep.yaml", {"version": 1, "name": "small", "arch": "diannao",
                                     "workloads": list(workloads), "seed": 1,
                                     "grid": {"buffers.sb.size_kib": list(sb),
                                              "dram.bytes_per_cycle": list(dram)}})


def test_a_sweep_killed_three_times_resumes_without_losing_or_repeating_runs(write_yaml,
                                                                             tmp_path):
    """``accelsim sweep --jobs 2`` killed with SIGKILL at three random points and restarted
    each time: the last restart's tables equal an uninterrupted run's, every point once."""
    seed = random.randrange(2 ** 32)
    rng = random.Random(seed)
    spec = _small_sweep(write_yaml, sb=(4, 8, 16, 32, 64, 128), dram=(1, 2, 4, 8, 16))
    output = tmp_path / "out" / "results.parquet"
    store = runs_directory(output)
    stored = set()
    for kill in range(3):
        target = len(stored) + rng.randint(2, 6)
        proc = subprocess.Popen([sys.executable, "-m", "accelsim", "sweep", str(spec), "-o",
                                 str(output), "-j", "2", "-q"], env=dict(os.environ,
                                PYTHONPATH=str(REPO)), start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(store.glob("*.parquet"))) < target:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)   # the sweep's own process; its workers must follow
        proc.wait(timeout=30)
        _no_process_left(proc.pid)   # a worker may finish its run first: count after it
        now = {p.stem for p in store.glob("*.parquet")}
        assert stored <= now and len(now) < 30, (
            f"kill {kill + 1} (seed {seed}): the kill must land in the middle of the sweep")
        stored = now
        assert not output.exists(), f"seed {seed}"
    (store / ".garbage.123.tmp").write_bytes(b"half a file")   # a write cut short
    resumed = run_sweep(spec, output, jobs=1, progress=False)
    assert resumed.stats.stored_before == len(stored), f"seed {seed}"
    assert resumed.stats.ran == 30 - len(stored), f"seed {seed}"
    assert not list(store.glob(".*.tmp"))
    fresh = run_sweep(spec, jobs=1, progress=False)
    pd.testing.assert_frame_equal(resumed.points, fresh.points)
    pd.testing.assert_frame_equal(resumed.layers, fresh.layers)
    on_disk = pd.read_parquet(output.with_name("results.points.parquet"))
    assert sorted(on_disk["point"]) == list(range(30))


def _no_process_left(pid: int) -> None:
    """The killed sweep's worker processes exit on their own (their session is checked)."""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            left = subprocess.run(["pgrep", "-s", str(pid)], capture_output=True, text=True)
            if not left.stdout.strip():
                return
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
        pytest.fail(f"processes of the killed sweep still running: {left.stdout.split()}")
    except FileNotFoundError:   # no pgrep on this system
        os.killpg(pid, signal.SIGKILL) if _session_alive(pid) else None


def _session_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_local_processes_and_a_dask_cluster_give_the_same_tables(write_yaml, tmp_path):
    distributed = pytest.importorskip("distributed")
    network = write_yaml("small.yaml", {"version": 1, **SMALL_SPEC})
    spec = _small_sweep(write_yaml, workloads=("lenet5", str(network)), sb=(1, 8, 32),
                        dram=(4, 16))
    local = run_sweep(spec, tmp_path / "local.parquet", jobs=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = run_sweep(spec, tmp_path / "dask.parquet", scheduler=client, progress=False)
    assert remote.stats.ran == local.stats.ran == 12
    assert "Dask" in remote.stats.workers
    assert (local.points["status"] == "failed").sum() >= 2   # 1 KiB SB cannot map lenet5
    pd.testing.assert_frame_equal(remote.points, local.points)
    pd.testing.assert_frame_equal(remote.layers, local.layers)


def test_cli_sweep_writes_csv_and_prints_a_summary(write_yaml, tmp_path, capsys):
    spec = _small_sweep(write_yaml, sb=(1, 32), dram=(4,))
    output = tmp_path / "r.csv"
    assert main(["sweep", str(spec), "-o", str(output), "-j", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert "2 runs: 1 ok, 1 failed" in out and "no tile fits" in out and "Pareto" in out
    table = pd.read_csv(output.with_name("r.points.csv"))
    assert table["status"].tolist() == ["failed", "ok"]
    assert main(["sweep", str(spec), "-o", str(output), "-j", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert "2 found done" in out and "not this sweep's" not in out
    narrower = _small_sweep(write_yaml, sb=(32,), dram=(4,))   # a stored run it does not use
    assert main(["sweep", str(narrower), "-o", str(output), "-j", "1", "-q"]) == 0
    out = capsys.readouterr().out
    assert "1 found done" in out and "1 stored runs are not this sweep's" in out


def test_progress_shows_runs_done_rate_and_eta(write_yaml, capsys):
    spec = _small_sweep(write_yaml, sb=(1, 32), dram=(4, 8))
    run_sweep(spec, jobs=1)   # stderr is no terminal: a line per tenth of the runs
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("sweep: 1/4 runs, 1 failed, ")
    assert re.fullmatch(r"sweep: 4/4 runs, 2 failed, [\d.]+ runs/s, ETA 0 s", lines[-1])
    run_sweep(spec, jobs=1, progress=True)   # the bar
    bar = capsys.readouterr().err.replace("\r", "\n")
    assert re.search(r"sweep small: 100%.* 4/4 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(run/s|s/run), "
                     r"2 failed\]", bar), bar


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    table = pd.DataFrame({"workload": rng.choice(["a", "b"], 60), "status": "ok",
                          "cycles": rng.integers(1, 20, 60), "energy_uj": rng.integers(1, 20, 60)
                          .astype(float)})
    front = pareto_front(table)
    for i, row in table.iterrows():
        same = table[table["workload"] == row["workload"]]
        dominated = ((same["cycles"] <= row["cycles"]) & (same["energy_uj"] <= row["energy_uj"])
                     & ((same["cycles"] < row["cycles"]) | (same["energy_uj"] < row["energy_uj"])))
        duplicate_before = ((same["cycles"] == row["cycles"])
                            & (same["energy_uj"] == row["energy_uj"]) & (same.index < i))
        assert front[i] == (not dominated.any() and not duplicate_before.any())

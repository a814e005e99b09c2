"""Design-space search: specs are checked, constraints hold, a seed gives one result, the
front is non-dominated, objectives combine the runs, and a killed search resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accelsim.cli import main
from accelsim.search import SearchError, hypervolume_2d, load_search, run_search
from accelsim.sweep import runs_directory

REPO = Path(__file__).resolve().parents[1]
SPACE = {"buffers.sb.size_kib": {"choices": [4, 8, 16, 32]},
         "buffers.nbin.size_kib": {"low": 1, "high": 8, "log": True},
         "dram.bytes_per_cycle": {"low": 2.0, "high": 32.0, "step": 2.0}}


def _spec(write_yaml, name="search.yaml", **changes) -> Path:
    data = {"version": 1, "name": "small", "arch": "diannao", "workloads": ["lenet5"],
            "seed": 0, "space": SPACE, "objectives": ["time_ms", "energy_uj"],
            "sampler": {"name": "nsga2", "seed": 3}, "trials": 12, "batch": 4, **changes}
    return write_yaml(name, data)


def test_a_seed_gives_the_same_trials_whatever_the_processes_and_another_seed_other_ones(
        write_yaml):
    spec = load_search(_spec(write_yaml, sampler={"name": "tpe", "seed": 5}))
    first = run_search(spec, jobs=1, progress=False)
    again = run_search(spec, jobs=2, progress=False)
    assert again.stats.workers == "local processes"
    pd.testing.assert_frame_equal(first.trials, again.trials)
    pd.testing.assert_frame_equal(first.points, again.points)
    first = first.trials
    other = run_search(spec.replace(sampler_seed=6), jobs=1, progress=False).trials
    assert not first[spec.keys].equals(other[spec.keys])


@pytest.mark.parametrize("sampler", ["random", "annealing", "cmaes"])
def test_every_sampler_stays_in_the_space_and_is_deterministic(write_yaml, sampler):
    spec = load_search(_spec(write_yaml, objectives=["edp"], trials=8,
                             sampler={"name": sampler, "seed": 2}))
    trials = run_search(spec, jobs=1, progress=False).trials
    assert trials["buffers.sb.size_kib"].isin([4, 8, 16, 32]).all()
    assert trials["buffers.nbin.size_kib"].between(1, 8).all()
    steps = (trials["dram.bytes_per_cycle"] - 2.0) / 2.0
    assert np.allclose(steps, steps.round()) and trials["dram.bytes_per_cycle"].between(2, 32).all()
    pd.testing.assert_frame_equal(trials, run_search(spec, jobs=1, progress=False).trials)


def test_constraints_are_respected_and_infeasible_trials_never_run(write_yaml):
    spec = load_search(_spec(write_yaml, constraints=["sram_kib <= 24"], trials=16,
                             sampler={"name": "random", "seed": 1}))
    result = run_search(spec, jobs=1, progress=False)
    trials = result.trials
    sram = trials["buffers.sb.size_kib"] + trials["buffers.nbin.size_kib"] + 2   # NBout 2 KiB
    assert (trials["status"] == "infeasible").any() and (trials["status"] == "ok").any()
    assert (sram[trials["status"] == "ok"] <= 24).all()
    assert (sram[trials["status"] == "infeasible"] > 24).all()
    infeasible = result.points[result.points["status"] == "infeasible"]
    assert infeasible["cycles"].isna().all() and len(infeasible) == (sram > 24).sum()
    assert result.stats.ran <= (sram <= 24).sum()


def test_the_front_is_exactly_the_non_dominated_ok_trials(write_yaml):
    spec = load_search(_spec(write_yaml, trials=16, sampler={"name": "random", "seed": 4}))
    trials = run_search(spec, jobs=1, progress=False).trials
    ok = trials[trials["status"] == "ok"]
    values = ok[["time_ms", "energy_uj"]].to_numpy()
    for index, row in zip(ok.index, values, strict=True):
        dominated = np.any(np.all(values <= row, axis=1) & np.any(values < row, axis=1))
        assert trials.loc[index, "pareto"] == (not dominated)
    assert not trials.loc[trials["status"] != "ok", "pareto"].any()


def test_objectives_combine_the_workloads_runs(write_yaml):
    spec = load_search(_spec(write_yaml, workloads=["lenet5", "alexnet_fc"], trials=4,
                             combine="mean", sampler={"name": "random", "seed": 0},
                             objectives=["cycles", "area_mm2",
                                         {"metric": "stall_cycles", "layers": "max"}]))
    result = run_search(spec, jobs=1, progress=False)
    for _, trial in result.trials[result.trials["status"] == "ok"].iterrows():
        runs = result.points[result.points["point"] == trial["trial"]]
        layers = result.layers[result.layers["point"] == trial["trial"]]
        assert trial["cycles"] == pytest.approx(runs["cycles"].mean())
        assert trial["area_mm2"] == pytest.approx(runs["area_mm2"].iloc[0])   # not summed
        assert trial["stall_cycles_max"] == pytest.approx(
            layers.groupby("workload")["stall_cycles"].max().mean())


def test_hypervolume_of_a_front_is_the_area_it_dominates():
    front = np.array([[1.0, 3.0], [2.0, 1.0], [3.0, 2.5]])   # the last is dominated
    assert hypervolume_2d(front, np.array([4.0, 4.0])) == pytest.approx(3 * 1 + 2 * 2)
    assert hypervolume_2d(np.array([[5.0, 1.0]]), np.array([4.0, 4.0])) == 0.0


@pytest.mark.parametrize(("changes", "message"), [
    ({"sampler": "bayes"}, "sampler.name: unknown sampler 'bayes'"),
    ({"objectives": ["latency"]}, "objectives[0]: unknown objective 'latency'"),
    ({"space": {"buffers.sb.size_kib": {"low": 64, "high": 8}}},
     "space.buffers.sb.size_kib: bad range: low 64 must be below high 8"),
    ({"space": {"buffers.sbb.size_kib": {"choices": [1, 2]}}}, "space.buffers.sbb.size_kib"),
    ({"trails": 10}, "trails: unknown key (did you mean 'trials'?)"),
    ({"constraints": ["sram_kib <= __import__('os')"]}, "constraints[0]"),
    ({"constraints": ["sram_mib <= 4"]}, "constraints[0]: constraint: 'sram_mib'"),
    ({"sampler": "annealing"}, "annealing optimises one objective"),
])
def test_bad_search_files_are_one_line_errors_naming_file_and_key(write_yaml, changes, message):
    path = _spec(write_yaml, **changes)
    with pytest.raises(SearchError) as caught:
        load_search(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: ") and message in lines[0], lines


def test_the_cli_prints_a_bad_search_in_one_line(write_yaml, capsys):
    path = _spec(write_yaml, sampler="bayes")
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "sampler.name" in err[0]


def test_a_killed_search_resumes_without_repeating_a_run(write_yaml, tmp_path):
    """``accelsim search`` killed (SIGKILL) mid-way, then rerun: the runs it stored are
    not simulated again, and the tables equal an uninterrupted search's."""
    path = _spec(write_yaml, trials=24, batch=2, sampler={"name": "random", "seed": 7},
                 space={**SPACE, "buffers.sb.size_kib": {"low": 4, "high": 64}})
    output = tmp_path / "out" / "search.parquet"
    store = runs_directory(output)
    proc = subprocess.Popen([sys.executable, "-m", "accelsim", "search", str(path), "-o",
                             str(output), "-j", "1", "-q"],
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(store.glob("*.parquet"))) < 4:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    stored = {p.stem for p in store.glob("*.parquet")}
    assert 4 <= len(stored) and not output.exists(), "the kill must land mid-search"
    resumed = run_search(path, output, jobs=1, progress=False)
    fresh = run_search(path, jobs=1, progress=False)
    assert resumed.stats.ran == fresh.stats.ran - len(stored)
    pd.testing.assert_frame_equal(resumed.trials, fresh.trials)
    pd.testing.assert_frame_equal(resumed.points, fresh.points)
    assert pd.read_parquet(output.with_name("search.trials.parquet"))["trial"].tolist() == \
        list(range(24))


def test_a_searchs_figures_are_drawn_from_its_tables(write_yaml, tmp_path):
    from accelsim.columns import axis_label
    from accelsim.plot import make_search, read_trials

    spec = load_search(_spec(write_yaml, trials=12, sampler={"name": "random", "seed": 2}))
    output = tmp_path / "search.parquet"
    run_search(spec, output, jobs=1, progress=False)
    trials = read_trials([output])
    figure = make_search("pareto", trials)
    ax = figure.axes[0]
    assert ax.get_xlabel() == axis_label("time_ms") and ax.get_ylabel() == axis_label("energy_uj")
    assert ax.get_xlim()[0] == 0 and ax.get_ylim()[0] == 0
    front = trials[trials["pareto"]]
    highlighted = ax.collections[1].get_offsets()
    assert sorted(map(tuple, np.asarray(highlighted))) == sorted(
        zip(front["time_ms"], front["energy_uj"], strict=True))
    for kind in ("pareto", "parallel", "progress", "importance"):
        target = tmp_path / f"{kind}.png"
        assert main(["plot", kind, str(output), "-o", str(target)]) == 0 and target.stat().st_size
    assert main(["plot", "pareto", str(output), "--y", "latency"]) == 2

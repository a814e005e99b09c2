"""accelsim.compare and ``accelsim compare``: same tensors, ratios against a baseline."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.compare import compare
from accelsim.config import load_arch, with_overrides
from accelsim.errors import AccelsimError


@pytest.fixture(scope="module")
def comparison():
    fast = with_overrides(load_arch("diannao"), {"name": "diannao_fast",
                                                 "dram.bytes_per_cycle": 64,
                                                 "clock_mhz": 1960})
    return compare(["diannao", fast], ["lenet5"], seed=2)


def test_ratios_are_baseline_over_arch_from_the_results(comparison):
    base = comparison.results[("lenet5", "diannao")].layers.set_index("layer")
    fast = comparison.results[("lenet5", "diannao_fast")].layers.set_index("layer")
    rows = comparison.layers[comparison.layers["arch"] == "diannao_fast"].set_index("layer")
    for layer in base.index:
        assert rows.loc[layer, "speedup"] == pytest.approx(
            base.loc[layer, "time_us"] / fast.loc[layer, "time_us"])
        assert rows.loc[layer, "energy_ratio"] == pytest.approx(
            base.loc[layer, "energy_pj"] / fast.loc[layer, "energy_pj"])
    baseline_rows = comparison.layers[comparison.layers["arch"] == "diannao"]
    assert (baseline_rows["speedup"] == 1).all()
    network = comparison.networks.set_index("arch")
    assert network.loc["diannao_fast", "speedup"] == pytest.approx(
        base["time_us"].sum() / fast["time_us"].sum())
    conv = base["kind"] == "conv"
    assert network.loc["diannao_fast", "conv_speedup"] == pytest.approx(
        base.loc[conv, "time_us"].sum() / fast.loc[conv, "time_us"].sum())
    assert network.loc["diannao_fast", "speedup"] > 1.9   # twice the clock, no more stalls


def test_every_arch_sees_the_same_tensors(comparison):
    a = comparison.results[("lenet5", "diannao")].layers["input_zero_fraction"]
    b = comparison.results[("lenet5", "diannao_fast")].layers["input_zero_fraction"]
    assert a.tolist() == b.tolist()


def test_save_writes_both_tables(comparison, tmp_path):
    paths = comparison.save(tmp_path / "cmp.csv")
    assert [p.name for p in paths] == ["cmp.csv", "cmp.networks.csv"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_bad_comparisons_are_errors():
    with pytest.raises(AccelsimError, match="baseline 'x'"):
        compare(["diannao", "dadiannao"], ["lenet5"], baseline="x")
    with pytest.raises(AccelsimError, match="must differ"):
        compare(["diannao", "diannao"], ["lenet5"])


def test_cli_compare_prints_speedups(capsys):
    assert main(["compare", "--archs", "dadiannao,cnvlutin", "--workload", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "speedup cnvlutin" in out and "conv_speedup" in out
    assert "energy_uj dadiannao" in out and "energy_uj cnvlutin" in out


def test_cli_compare_needs_two_archs(capsys):
    assert main(["compare", "--archs", "diannao", "--workload", "lenet5"]) == 2
    assert "at least two" in capsys.readouterr().err

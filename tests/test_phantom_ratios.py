"""benchmarks/reproduce_phantom.py's published-ratio table: the averaging functions compute
what they say on a hand-made table, and ``--output`` writes one row per comparison and metric
(on a tiny pruned network, so it runs in seconds)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from benchmarks import reproduce_phantom as bench

# Hand-made per-layer times (us): conv a is 10x faster on "fast", conv b equal, fc c 2x.
HAND = pd.DataFrame([
    {"layer": "a", "kind": "conv", "arch": "slow", "time_us": 100.0},
    {"layer": "a", "kind": "conv", "arch": "fast", "time_us": 10.0},
    {"layer": "b", "kind": "conv", "arch": "slow", "time_us": 20.0},
    {"layer": "b", "kind": "conv", "arch": "fast", "time_us": 20.0},
    {"layer": "p", "kind": "pool", "arch": "slow", "time_us": 5.0},
    {"layer": "p", "kind": "pool", "arch": "fast", "time_us": 15.0},
    {"layer": "c", "kind": "fc", "arch": "slow", "time_us": 10.0},
    {"layer": "c", "kind": "fc", "arch": "fast", "time_us": 5.0},
])


def test_mean_of_ratios_and_ratio_of_sums_differ_as_defined():
    assert bench.mean_of_ratios([100, 20], [10, 20]) == pytest.approx(5.5)     # (10 + 1) / 2
    assert bench.ratio_of_sums([100, 20], [10, 20]) == pytest.approx(4.0)      # 120 / 30
    assert bench.mean_of_ratios([100, 10, 10], [10, 10, 5]) == pytest.approx(13 / 3)
    assert bench.ratio_of_sums([100, 10, 10], [10, 10, 5]) == pytest.approx(120 / 25)


def test_metrics_pick_their_layers_and_combine_them_as_named():
    def metric(name):
        return bench.speedup(HAND, "fast", "slow", name)

    assert metric("mean_of_layer_speedups_incl_fc") == pytest.approx((10 + 1 + 2) / 3)
    assert metric("mean_of_layer_speedups_conv") == pytest.approx((10 + 1) / 2)
    assert metric("mac_weighted_conv") == pytest.approx(120 / 30)
    assert metric("network_time") == pytest.approx(135 / 50)           # pool included
    assert bench.speedup(HAND, "slow", "fast", "mac_weighted_conv") == pytest.approx(30 / 120)


def test_comparison_rows_judge_against_the_paper():
    layers = pd.concat([HAND[HAND["arch"] == "fast"].assign(arch="phantom2d"),
                        HAND[HAND["arch"] == "slow"].assign(arch="eyeriss_v2")])
    rows = pd.DataFrame(bench.comparison_rows("hand", layers)).set_index("metric")
    assert list(rows["comparison"].unique()) == ["phantom2d over eyeriss_v2"]   # only it ran
    assert list(rows.index) == list(bench.METRICS)
    assert (rows["paper"] == 2.36).all()
    assert rows.loc["mac_weighted_conv", "ours"] == pytest.approx(4.0)
    assert rows.loc["mac_weighted_conv", "ratio_to_paper"] == pytest.approx(4.0 / 2.36)
    assert not rows.loc["mac_weighted_conv", "holds"]                # 1.69x the paper's
    assert not rows.loc["mean_of_layer_speedups_incl_fc", "holds"]   # 4.33 / 2.36 = 1.84
    assert rows.loc["network_time", "holds"]                         # 2.7 / 2.36 = 1.14


TINY = {"version": 1, "name": "tiny", "input": [8, 10, 10],
        "layers": [{"name": "c1", "kind": "conv", "out_channels": 12, "kernel": 3, "pad": 1,
                    "relu": True},
                   {"name": "p1", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
                   {"name": "c2", "kind": "conv", "out_channels": 16, "kernel": 3, "pad": 1,
                    "relu": True},
                   {"name": "f1", "kind": "fc", "out_channels": 10}]}


def test_output_csv_has_one_row_per_comparison_and_metric(tmp_path, monkeypatch, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    monkeypatch.setattr(bench, "CASES", {"tiny": (str(path), [
        {"kind": "prune", "density": 0.4, "scope": "layer"}], "tiny, 40 % per layer")})
    out = tmp_path / "ratios.csv"
    assert bench.main(["--cases", "tiny", "--output", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == bench.RATIO_COLUMNS
    expected = [(c, m) for c in bench.COMPARISONS for m in bench.METRICS]
    assert list(zip(table["comparison"], table["metric"], strict=True)) == expected
    assert (table["case"] == "tiny").all()
    assert (table["ours"] > 0).all()
    assert table["ratio_to_paper"].to_numpy() == pytest.approx(
        (table["ours"] / table["paper"]).to_numpy())
    dense = table[table["comparison"] == "phantom2d over dense (phantom2d_dense)"]
    assert (dense["paper"] == 12.0).all()
    assert "mean_of_layer_speedups_incl_fc" in capsys.readouterr().out

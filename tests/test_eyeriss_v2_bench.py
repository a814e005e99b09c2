"""benchmarks/reproduce_eyeriss_v2.py's own logic: the Eyexam-style steps and bound on a
hand-made table, the bands, and the sparse tensors (pruned, calibrated zeros re-imposed) on
the smallest MobileNet variant, so it runs in seconds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from accelsim.workload import load_network
from benchmarks import reproduce_eyeriss_v2 as bench


def fake(rows: list[dict]) -> SimpleNamespace:
    return SimpleNamespace(layers=pd.DataFrame(rows))


def test_eyexam_steps_and_the_step_that_loses_most():
    bound = fake([{"layer": "a", "kind": "conv", "macs": 3840, "pe_mac": 1920, "cycles": 100},
                  {"layer": "b", "kind": "conv", "macs": 384, "pe_mac": 384, "cycles": 60}])
    free = fake([{"layer": "a", "compute_cycles": 20, "cycles": 30},
                 {"layer": "b", "compute_cycles": 50, "cycles": 55}])
    table = bench.eyexam(bound, free, peak_macs=384).set_index("layer")
    assert table.loc["a", ["peak", "effectual", "mapped", "on-chip", "with DRAM"]].tolist() \
        == [10, 5, 20, 30, 100]
    assert table.loc["a", "bound"] == "with DRAM"      # 30 -> 100 is the largest loss
    assert table.loc["b", "bound"] == "mapped"         # 1 -> 50
    assert table.loc["total", "with DRAM"] == 160 and table.loc["total", "MACs"] == 4224


@pytest.mark.parametrize(("ours", "holds"), [(1000.0, True), (1340.0, True), (655.0, True),
                                             (649.0, False), (1351.0, False)])
def test_band_is_35_percent_either_way(ours, holds):
    assert bench.band(ours, 1000.0) == (pytest.approx(ours / 1000.0), holds)


def test_sparse_tensors_prune_each_layer_and_keep_the_calibrated_zeros():
    network = load_network("mobilenet_v1_025_128")
    tensors = bench.sparse_tensors(network, seed=0, density=0.4)
    for name in ("conv1_pw", "conv13_pw", "fc"):
        weights = tensors.weights[name]
        assert np.count_nonzero(weights) / weights.size == pytest.approx(0.4, abs=0.01)
    zeros = tensors.provenance["transforms"]
    assert "re-imposed calibration zeros" in zeros


def test_the_family_table_covers_the_sixteen_variants():
    table = bench.family_table(384, 200.0, 0.4)
    assert len(table) == 16
    row = table.set_index("variant").loc["mobilenet_v1_050_128"]
    assert row["dense at peak (ms)"] == pytest.approx(49.16e6 / 384 / 200e3, rel=1e-3)


def test_paper_table_bands_the_runs_the_paper_compares(capsys):
    """v2 sparse (chip alone) against v1 on the dense network; the DDR4 run on its own band;
    a calibration divides the inferences/J and cancels in the ratio."""
    rows = {"v2 sparse": (1470.6, 390.6), "v2 sparse, DDR4-3200": (600.0, 390.6),
            "v2 sparse, shipped DRAM": (500.0, 390.6),
            "v2 sparse, 16-bit data on its links": (1000.0, 390.6),
            "v1 dense (scaled)": (116.7, 976.5), "v1 scaled, 192 KB GLB": (116.7, 1200.0),
            "v1 scaled, 16-bit data on its buses": (60.0, 976.5)}
    heads = pd.DataFrame({name: {"inferences/s": speed, "on-chip uJ": uj,
                                 "on-chip inferences/J": 1e6 / uj}
                          for name, (speed, uj) in rows.items()}).T
    heads.attrs["calibration"] = 2.0
    assert not bench.print_paper_table(heads)          # DDR4: 600 / 1117.7 is out
    out = capsys.readouterr().out
    assert "speed over v1" in out and "ratio  1.00  holds" in out
    ddr4 = next(line for line in out.splitlines() if "at DDR4-3200" in line).split()
    assert ddr4[5:12] == ["600.00", "paper", "1117.7", "ratio", "0.54", "OUT", "(paper:"]
    heads.loc["v2 sparse, DDR4-3200", "inferences/s"] = 1117.7
    assert bench.print_paper_table(heads)

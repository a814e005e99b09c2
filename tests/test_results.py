"""Result: totals add up, save/load round-trips, re-pricing from raw counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from accelsim import simulate
from accelsim.errors import AccelsimError


@pytest.fixture(scope="module")
def result():
    return simulate("diannao", "lenet5")


def test_summary_totals_match_layers(result):
    summary, layers = result.summary, result.layers
    assert summary["cycles"] == layers["cycles"].sum()
    assert summary["macs"] == layers["macs"].sum()
    assert summary["energy_uj"] == pytest.approx(layers["energy_pj"].sum() / 1e6)
    parts = [k for k in summary.index if k.startswith("energy_") and k != "energy_uj"]
    assert sum(summary[k] for k in parts) == pytest.approx(summary["energy_uj"])
    assert summary["time_ms"] == pytest.approx(summary["cycles"] / 980 / 1000)


def test_counts_table_matches_layer_columns(result):
    for row in result.counts.itertuples():
        layer = result.layers.set_index("layer").loc[row.layer]
        assert layer[f"{row.component}_{row.action}"] == row.count


def test_dram_counts_match_engine_bytes(result):
    layers = result.layers
    assert (layers["dram_read_byte"] == layers["dram_read_bytes"]).all()
    assert (layers["dram_write_byte"] == layers["dram_write_bytes"]).all()


def test_reprice_with_same_table_reproduces_energy(result):
    energy = result.reprice(result.energy_table)
    for component in energy.columns:
        np.testing.assert_allclose(energy[component].values,
                                   result.layers[f"energy_{component}_pj"].values)


def test_reprice_with_other_table_changes_only_energy(result):
    table = {key: 2 * value for key, value in result.energy_table.items()}
    energy = result.reprice(table)
    np.testing.assert_allclose(energy.sum(axis=1).values, 2 * result.layers["energy_pj"].values)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_save_round_trip(result, tmp_path, suffix):
    paths = result.save(tmp_path / f"out{suffix}")
    read = pd.read_csv if suffix == ".csv" else pd.read_parquet
    layers = read(paths[0])
    assert list(layers["layer"]) == list(result.layers["layer"])
    np.testing.assert_array_equal(layers["cycles"], result.layers["cycles"])
    assert len(read(paths[1])) == len(result.counts)
    meta = json.loads(paths[2].read_text())
    assert meta["meta"]["seed"] == 0 and meta["meta"]["arch_digest"]
    assert meta["summary"]["cycles"] == result.summary["cycles"]


def test_save_rejects_unknown_suffix(result, tmp_path):
    with pytest.raises(AccelsimError, match="out.xlsx"):
        result.save(tmp_path / "out.xlsx")

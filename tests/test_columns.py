"""The column table (accelsim.columns): every column of every table is documented, the README
and ``accelsim columns`` print the same table, and labels read as words with units."""

from __future__ import annotations

from pathlib import Path

import pytest

import accelsim
from accelsim import columns
from accelsim.cli import main
from accelsim.compare import compare
from accelsim.cost.counts import ACTIONS
from accelsim.files import shipped
from accelsim.sweep import make_sweep, run_sweep

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def tables():
    """Every table accelsim writes, from short real runs: each shipped core's layers and
    summary on LeNet-5, a comparison's two tables, a sweep's two tables."""
    found = {}
    for name in shipped("arch_configs"):
        result = accelsim.simulate(name, "lenet5", seed=0)
        found[f"{name} layers"] = list(result.layers.columns)
        found[f"{name} summary"] = list(result.summary.index)
    comparison = compare(["diannao", "cnvlutin"], ["lenet5"], seed=0)
    found["compare layers"] = list(comparison.layers.columns)
    found["compare networks"] = list(comparison.networks.columns)
    swept = run_sweep(make_sweep("diannao", ["lenet5"], {"buffers.sb.size_kib": [8, 32]}),
                      jobs=1, progress=False)
    found["sweep points"] = list(swept.points.columns)
    found["sweep layers"] = list(swept.layers.columns)
    return found


def test_every_column_of_every_table_is_documented(tables):
    undocumented = {table: [c for c in names if "." not in c and columns.describe(c) is None]
                    for table, names in tables.items()}
    assert {t: c for t, c in undocumented.items() if c} == {}, (
        "add these columns to accelsim/columns.py COLUMNS (and paste markdown_table() into "
        "the README)")


def test_an_unknown_column_is_not_documented():
    assert columns.describe("made_up") is None
    assert "(not documented)" in columns.text_table(["made_up"])


def test_the_readme_table_is_the_generated_one():
    readme = README.read_text()
    start = readme.index("<!-- columns")
    block = readme[readme.index("\n", start) + 1:readme.index("<!-- /columns -->")]
    assert block.strip() == columns.markdown_table(), (
        "README's column table is stale: paste accelsim.columns.markdown_table()")


def test_the_actions_are_the_counts_vocabulary():
    assert columns.ACTIONS == ACTIONS


@pytest.mark.parametrize(("name", "label"), [
    ("time_ms", "Time (ms)"),
    ("time_us", "Time (µs)"),
    ("cycles", "Cycles"),
    ("energy_uj", "Energy (µJ)"),
    ("energy_sb_pj", "SB energy (pJ)"),
    ("nbin_read", "NBin read"),
    ("pe_mac_skipped", "PE MACs skipped"),
    ("buffers.sb.size_kib", "SB size (KiB)"),
    ("buffers.nbin.size_kib", "NBin size (KiB)"),
    ("dram.bytes_per_cycle", "DRAM bandwidth (B/cycle)"),
    ("clock_mhz", "Clock (MHz)"),
])
def test_labels_are_words_with_units(name, label):
    assert columns.axis_label(name) == label


def test_labels_take_a_qualifier_and_another_unit():
    assert columns.axis_label("speedup", "over diannao") == "Speedup over diannao (×)"
    assert columns.axis_label("utilization", unit="%") == "Utilization (%)"
    assert columns.axis_label("energy_pj", unit="µJ") == "Energy (µJ)"


def test_every_entry_has_a_label_and_a_description():
    for column in columns.COLUMNS:
        assert column.label and column.description, column.name
        if "<" not in column.name:   # a label is words, never the column's own name
            assert "_" not in columns.axis_label(column.name), column.name


def test_accelsim_columns_prints_the_table_and_a_files_columns(tmp_path, capsys):
    assert main(["columns"]) == 0
    out = capsys.readouterr().out
    assert all(column.name in out for column in columns.COLUMNS)
    assert main(["columns", "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == columns.markdown_table()
    result = accelsim.simulate("cnvlutin", "lenet5", seed=0)
    result.save(tmp_path / "run.csv")
    assert main(["columns", str(tmp_path / "run.csv")]) == 0
    out = capsys.readouterr().out
    assert "(not documented)" not in out
    assert all(name in out for name in result.layers.columns)
    swept = run_sweep(make_sweep("diannao", ["lenet5"], {"buffers.sb.size_kib": [8, 32]}),
                      tmp_path / "sweep.csv", jobs=1, progress=False)
    assert main(["columns", str(swept.paths[-1])]) == 0
    out = capsys.readouterr().out
    assert "(not documented)" not in out and "buffers.sb.size_kib" in out and "KiB" in out
    assert main(["columns", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err

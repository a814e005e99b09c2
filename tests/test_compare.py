"""accelsim.compare and ``accelsim compare``: same tensors, ratios against a baseline."""

from __future__ import annotations

import pytest

from accelsim.cli import main
from accelsim.compare import Comparison, compare, format_comparison
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


def test_cli_compare_prints_speedups(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "90")
    assert main(["compare", "--archs", "dadiannao,cnvlutin", "--workload", "lenet5"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "dadiannao" in line and "cnvlutin"
                  in line and ":" not in line)   # the architectures over their columns
    measures = out.splitlines()[out.splitlines().index(header) + 1].split()
    assert measures == ["kind", "zeros_in%", "cycles", "energy_uj", "speedup", "energy_uj",
                        "energy_ratio"]
    assert "conv_speedup" in out and "fc_share" in out
    assert max(map(len, out.splitlines())) <= 90


def test_networks_table_has_the_fc_layers_speedup_and_share(comparison):
    base = comparison.results[("lenet5", "diannao")].layers.set_index("layer")
    fast = comparison.results[("lenet5", "diannao_fast")].layers.set_index("layer")
    network = comparison.networks.set_index("arch")
    fc = base["kind"] == "fc"
    assert network.loc["diannao_fast", "fc_speedup"] == pytest.approx(
        base.loc[fc, "time_us"].sum() / fast.loc[fc, "time_us"].sum())
    assert network.loc["diannao", "fc_share"] == pytest.approx(
        base.loc[fc, "time_us"].sum() / base["time_us"].sum())


@pytest.fixture(scope="module")
def six():
    """Six architectures (DianNao at other clocks and bandwidths, and the shipped ones)."""
    variants = [with_overrides(load_arch("diannao"), {"name": f"diannao_{mhz}mhz_{bw}bpc",
                                                      "clock_mhz": mhz,
                                                      "dram.bytes_per_cycle": bw})
                for mhz, bw in ((490, 8), (1960, 64), (980, 4))]
    return compare(["diannao", "dadiannao", "cnvlutin", *variants], ["lenet5"], seed=2)


@pytest.mark.parametrize("width", [80, 100, 140])
def test_a_six_architecture_comparison_fits_the_width(six, width):
    text = format_comparison(six, width=width)
    assert max(map(len, text.splitlines())) <= width
    assert max(map(len, format_comparison(six, width=10_000).splitlines())) > width
    blocks = [[line for line in block.splitlines() if not line.startswith("lenet5:")]
              for block in text.split("\n\n")]   # without the title over the first
    for arch in set(six.layers["arch"]):   # each under its name once, its values all there
        under = [b for b in blocks if arch in b[0].split()]
        assert len(under) == 1, arch
        rows = {line.split()[0]: line.split() for line in under[0][3:]}
        measure = "cycles" if arch == six.baseline else "speedup"
        for layer, value in six.layers[six.layers["arch"] == arch].set_index("layer")[
                measure].items():
            shown = f"{value:,.0f}" if measure == "cycles" else f"{value:,.3f}"
            assert shown in rows[layer], (arch, layer)


def test_layers_conv_prints_the_conv_layers_and_their_totals(six):
    text = format_comparison(six, layers="conv", width=100)
    conv = six.layers[six.layers["kind"] == "conv"]
    shown = {line.split()[0] for line in text.splitlines()
             if line.split() and line.split()[0] in set(six.layers["layer"])}
    assert shown == set(conv["layer"])
    assert "conv layers of each network" in text
    networks = six.networks.set_index("arch")
    for arch in networks.index:
        assert f"{networks.loc[arch, 'conv_speedup']:,.3f}" in text
    with pytest.raises(AccelsimError, match="--layers"):
        format_comparison(six, layers="pool")


def test_a_note_names_the_networks_whose_fc_layers_dominate(six):
    """A note when the fc layers take over half of some architecture's time (as with
    the real tables), none when they take less."""
    dominated = (six.networks["fc_share"] > 0.5).any()
    assert ("note:" in format_comparison(six)) == dominated
    light = six.networks.assign(fc_share=six.networks["fc_share"].clip(upper=0.45))
    assert "note:" not in format_comparison(
        Comparison(six.baseline, six.layers, light, six.results))
    heavy = light.assign(fc_share=light["fc_share"].where(light["arch"] != "cnvlutin", 0.83))
    text = format_comparison(Comparison(six.baseline, six.layers, heavy, six.results),
                             width=80)
    note = text[text.index("note:"):]
    assert "lenet5" in note and "83%" in note and "cnvlutin" in note
    assert max(map(len, text.splitlines())) <= 80


def test_cli_compare_layers(capsys):
    assert main(["compare", "--archs", "diannao,dadiannao", "--workload", "lenet5",
                 "--layers", "fc"]) == 0
    out = capsys.readouterr().out
    assert "per fc layer" in out and "fc layers of each network" in out

"""Energy model: Horowitz anchors, the energy table with overrides, pricing of raw counts."""

from __future__ import annotations

import math
import typing

import pandas as pd
import pytest

from accelsim import config
from accelsim.cost import energy
from accelsim.cost.counts import Counts
from accelsim.cost.energy import (
    DRAM_PJ_PER_BYTE,
    Component,
    energy_table,
    mac_pj,
    op_pj,
    price,
    sram_access_pj,
)
from accelsim.errors import AccelsimError, ConfigError

KIB = 1024
COMPONENTS = [Component("nbin", "sram", size_bytes=2 * KIB, access_bits=256),
              Component("sb", "sram", size_bytes=32 * KIB, access_bits=64),
              Component("nfu", "mac"),
              Component("dram", "dram")]


@pytest.mark.parametrize(("size_bytes", "pj"), [(8 * KIB, 10.0), (32 * KIB, 20.0),
                                                (1024 * KIB, 100.0)])
def test_sram_hits_horowitz_anchors_exactly(size_bytes, pj):
    assert sram_access_pj(size_bytes, 64) == pj


def test_sram_interpolates_log_log():
    # Halfway in log(size) between anchors is halfway in log(energy): the geometric means.
    assert sram_access_pj(16 * KIB, 64) == pytest.approx(math.sqrt(10.0 * 20.0), rel=1e-12)
    # Below 8 KB the first segment's slope (energy doubles per 4x size) carries on.
    assert sram_access_pj(2 * KIB, 64) == pytest.approx(5.0, rel=1e-12)
    # Above 1 MB the last segment's slope (5x energy per 32x size) carries on.
    assert sram_access_pj(32 * 1024 * KIB, 64) == pytest.approx(500.0, rel=1e-12)


def test_sram_is_monotone_in_size_and_linear_in_width():
    sizes = [int(256 * 1.3 ** k) for k in range(45)]  # 256 B .. about 33 MB
    energies = [sram_access_pj(size, 64) for size in sizes]
    assert all(a < b for a, b in zip(energies, energies[1:], strict=False))
    assert sram_access_pj(32 * KIB, 256) == pytest.approx(4 * 20.0, rel=1e-12)
    assert sram_access_pj(32 * KIB, 16) == pytest.approx(20.0 / 4, rel=1e-12)


@pytest.mark.parametrize(("size_bytes", "access_bits"), [(0, 64), (1024, 0), (-5, 64)])
def test_sram_rejects_non_positive_arguments(size_bytes, access_bits):
    with pytest.raises(ValueError):
        sram_access_pj(size_bytes, access_bits)


def test_compute_prices_follow_horowitz():
    assert mac_pj("fixed16") == pytest.approx(0.2 * 4 + 0.1)  # 16-bit mult + 32-bit add
    assert mac_pj("fp32") == pytest.approx(3.7 + 0.9)
    assert op_pj("fixed16") == pytest.approx(0.05)
    assert op_pj("fp32") == pytest.approx(0.9)
    assert DRAM_PJ_PER_BYTE == pytest.approx(640.0 / 4)
    with pytest.raises(ValueError, match="int8"):
        mac_pj("int8")


def test_energy_knows_every_config_precision():
    for precision in typing.get_args(config.Precision):
        assert mac_pj(precision) > op_pj(precision) > 0


def test_default_table_prices_every_action_of_every_component():
    table = energy_table(COMPONENTS, "fixed16", {})
    assert set(table) == {(c.name, a) for c in COMPONENTS for a in energy.ACTIONS_BY_KIND[c.kind]}
    nbin_pj = sram_access_pj(2 * KIB, 256)
    assert table[("nbin", "read")] == table[("nbin", "write")] == table[("nbin", "fill")] \
        == nbin_pj
    assert table[("sb", "read")] == 20.0
    assert table[("nfu", "mac")] == mac_pj("fixed16")
    assert table[("nfu", "mac_skipped")] == 0.0
    assert table[("nfu", "op")] == op_pj("fixed16")
    assert table[("dram", "read_byte")] == table[("dram", "write_byte")] == 160.0


def test_overrides_replace_only_what_they_name():
    default = energy_table(COMPONENTS, "fixed16", {})
    table = energy_table(COMPONENTS, "fixed16", {"sb": {"read": 1.7}, "nfu": {"mac": 0}})
    assert table[("sb", "read")] == 1.7
    assert table[("nfu", "mac")] == 0.0
    changed = {key for key in table if table[key] != default[key]}
    assert changed == {("sb", "read"), ("nfu", "mac")}


def test_unknown_overrides_are_config_errors_naming_file_and_key():
    overrides = {"nbinn": {"read": 1.0}, "sb": {"reed": 1.0}, "nfu": {"zap": 1.0}}
    with pytest.raises(ConfigError) as caught:
        energy_table(COMPONENTS, "fixed16", overrides, origin="arch_configs/x.yaml")
    assert caught.value.problems == [
        "arch_configs/x.yaml: energy_pj.nbinn: unknown component (did you mean 'nbin'?)",
        "arch_configs/x.yaml: energy_pj.sb.reed: unknown action for sram 'sb' "
        "(did you mean 'read'?)",
        "arch_configs/x.yaml: energy_pj.nfu.zap: unknown action for mac 'nfu' "
        "(known: mac, mac_skipped, op)",
    ]


def test_component_checks_its_own_fields():
    with pytest.raises(ValueError, match="kind"):
        Component("noc", "wire")
    with pytest.raises(ValueError, match="size_bytes"):
        Component("sb", "sram", size_bytes=0, access_bits=64)
    with pytest.raises(ValueError, match="twice"):
        energy_table([Component("nfu", "mac"), Component("nfu", "mac")], "fp32", {})


def make_counts() -> Counts:
    counts = Counts()
    counts.add("sb", "read", 1000)
    counts.add("nfu", "mac", 64000)
    counts.add("nfu", "mac_skipped", 500)
    counts.add("dram", "read_byte", 4096)
    counts.add("nbin", "fill", 7)
    return counts


def test_price_multiplies_counts_by_prices():
    table = energy_table(COMPONENTS, "fixed16", {})
    frame = price(make_counts(), table)
    assert list(frame.columns) == ["component", "action", "count", "pj_per_action", "energy_pj"]
    keys = list(zip(frame["component"], frame["action"], strict=True))
    assert keys == sorted(make_counts())
    expected_total = (1000 * 20.0 + 64000 * mac_pj("fixed16") + 500 * 0.0
                      + 4096 * 160.0 + 7 * sram_access_pj(2 * KIB, 256))
    assert frame["energy_pj"].sum() == pytest.approx(expected_total, rel=1e-12)
    row = frame.set_index(["component", "action"]).loc[("dram", "read_byte")]
    assert (row["count"], row["energy_pj"]) == (4096, 4096 * 160.0)


def test_price_is_the_long_count_table_with_two_priced_columns():
    """``price`` builds its frame from whole columns (issue 22); it must be exactly
    ``Counts.to_frame`` with the price and the product appended, dtypes included."""
    table = energy_table(COMPONENTS, "fixed16", {})
    for counts in (make_counts(), Counts({("sb", "read"): 2 ** 53 + 1, ("nfu", "mac"): 0})):
        expected = counts.to_frame()
        expected["pj_per_action"] = [table[(c, a)] for c, a in
                                     zip(expected["component"], expected["action"],
                                         strict=True)]
        expected["energy_pj"] = expected["count"] * expected["pj_per_action"]
        pd.testing.assert_frame_equal(price(counts, table), expected, check_exact=True)


def test_repricing_changes_energy_not_counts():
    counts = make_counts()
    before = dict(counts)
    cheap = price(counts, energy_table(COMPONENTS, "fixed16", {"dram": {"read_byte": 16}}))
    dear = price(counts, energy_table(COMPONENTS, "fixed16", {}))
    assert dict(counts) == before
    assert cheap["count"].tolist() == dear["count"].tolist()
    saved = dear["energy_pj"].sum() - cheap["energy_pj"].sum()
    assert saved == pytest.approx(4096 * (160.0 - 16.0), rel=1e-12)


def test_price_without_a_price_is_a_clear_error():
    counts = make_counts()
    counts.add("noc", "hop", 3)
    with pytest.raises(AccelsimError, match=r"no energy price for \(noc, hop\)"):
        price(counts, energy_table(COMPONENTS, "fixed16", {}))


def test_price_of_no_counts_is_an_empty_table():
    frame = price(Counts(), energy_table(COMPONENTS, "fp32", {}))
    assert frame.empty and "energy_pj" in frame.columns


def test_logic_and_noc_components_are_priced_from_their_own_fields():
    parts = [Component("encoder", "logic"), Component("link", "noc", access_bits=64, hop_mm=0.5)]
    table = energy_table(parts, "fixed16", {})
    assert table == {("encoder", "op"): op_pj("fixed16"),
                     ("link", "hop"): pytest.approx(energy.NOC_PJ_PER_BIT_MM * 64 * 0.5)}
    wider = energy_table([Component("link", "noc", access_bits=128, hop_mm=0.5)], "fixed16", {})
    assert wider[("link", "hop")] == pytest.approx(2 * table[("link", "hop")])
    with pytest.raises(ValueError, match="hop_mm"):
        Component("link", "noc", access_bits=64, hop_mm=0)

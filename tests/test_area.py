"""The area model: parts add up to the total, area grows with capacity, port width and the
number of PEs, few-word buffers are flip-flops, figures scale from their nodes, and areas
reach the sweep's tables."""

from __future__ import annotations

import pytest

from accelsim.config import load_arch, with_overrides
from accelsim.cost.area import (
    AreaPart,
    area_table,
    is_register_file,
    macro_um2,
    node_scale,
    part_areas_mm2,
    register_um2_per_bit,
    sram_um2,
    unit_um2,
)
from accelsim.files import shipped
from accelsim.sim.area import area_parts, design_area
from accelsim.sweep import make_sweep, run_sweep


@pytest.mark.parametrize("name", sorted(shipped("arch_configs")))
def test_the_parts_add_up_to_the_total_on_every_shipped_arch(name):
    area = design_area(load_arch(name))
    parts = {k: v for k, v in area.items() if k != "area_mm2"}
    assert area["area_mm2"] == pytest.approx(sum(parts.values()), rel=1e-12)
    assert all(v > 0 for v in parts.values())
    assert {"area_multipliers_mm2", "area_adders_mm2", "area_mac_registers_mm2"} <= set(parts)


def test_sram_area_grows_with_capacity():
    registers = [sram_um2(size) for size in range(1, 64)]   # fewer than 32 16-bit words
    assert all(a < b for a, b in zip(registers, registers[1:], strict=False))
    assert sram_um2(64) < registers[-1]   # at the threshold, SRAM is the denser
    srams = [sram_um2(size) for size in range(64, 2048, 16)]
    assert all(a <= b for a, b in zip(srams, srams[1:], strict=False))
    large = [sram_um2(size, port) for port in (16, 4096)
             for size in (16384, 65536, 1 << 20, 1 << 23)]
    assert all(a < b for a, b in zip(large[:4], large[1:4], strict=False)), large
    assert all(a < b for a, b in zip(large[4:], large[5:], strict=False)), large
    diannao = load_arch("diannao")
    totals = [design_area(with_overrides(diannao, {"buffers.sb.size_kib": kib}))
              for kib in (8, 32, 128)]
    assert totals[0]["area_sb_mm2"] < totals[1]["area_sb_mm2"] < totals[2]["area_sb_mm2"]
    assert totals[0]["area_nbin_mm2"] == totals[2]["area_nbin_mm2"]


def test_a_wide_port_costs_more_than_a_narrow_one_but_no_more_than_one_wide_macro():
    for size in (2048, 32768, 1 << 20):
        for port in (256, 1024, 4096):
            banked = sram_um2(size, port)
            assert sram_um2(size, 16) <= banked <= macro_um2(size, port), (size, port)
    assert sram_um2(32768, 4096) < macro_um2(32768, 4096) / 4   # banks beat one wide macro


def test_few_word_buffers_are_flip_flops():
    table = area_table()
    assert is_register_file(24, 16) and is_register_file(48, 16)   # Eyeriss ifmap, psum
    assert not is_register_file(448, 16)                           # its SRAM filter spad
    assert is_register_file(127, 32) and not is_register_file(128, 32)
    assert not is_register_file(8192, 16)   # a wide port does not make a buffer registers
    assert sram_um2(8192, 4096) < 8 * 8192 * register_um2_per_bit(table)
    assert sram_um2(48, 16) == pytest.approx(2 * sram_um2(24, 16))
    assert sram_um2(24, 16) == pytest.approx(8 * 24 * register_um2_per_bit(table))


def test_the_table_reproduces_its_own_points_and_figures_keep_their_nodes():
    table = area_table()
    for port, row in table["sram_um2"].items():
        for size, um2 in row.items():
            at_sram_node = {**table, "node_nm": table["sram_node_nm"]}
            assert macro_um2(size, port, at_sram_node) == pytest.approx(um2)
    at_register_node = {**table, "node_nm": table["register_node_nm"]}
    assert register_um2_per_bit(at_register_node) == table["register_um2_per_bit"]
    at_unit_node = {**table, "node_nm": table["unit_node_nm"]}
    assert unit_um2("multiplier", 32, table=at_unit_node) == table["multiplier_32b_um2"]


def test_multipliers_grow_with_the_square_of_the_width_and_adders_linearly():
    for bits in (4, 8, 16):
        assert unit_um2("multiplier", 2 * bits) == pytest.approx(4 * unit_um2("multiplier", bits))
        assert unit_um2("adder", 2 * bits) == pytest.approx(2 * unit_um2("adder", bits))
    for kind in ("multiplier", "adder"):
        assert unit_um2(kind, 32, floating=True) > unit_um2(kind, 32)


def test_area_scales_with_the_square_of_the_node():
    parts = area_parts(load_arch("eyeriss"))
    at_45, at_65 = part_areas_mm2(parts, 45), part_areas_mm2(parts, 65)
    for name in at_45:
        assert at_65[name] == pytest.approx(at_45[name] * (65 / 45) ** 2)
    assert node_scale(area_table()["node_nm"]) == 1.0
    with pytest.raises(ValueError):
        node_scale(0)


def test_scratchpads_repeat_per_pe_and_global_buffers_do_not():
    eyeriss = load_arch("eyeriss")
    half = with_overrides(eyeriss, {"core_params.array_rows": eyeriss.core_params.array_rows // 2})
    full, halved = design_area(eyeriss), design_area(half)
    for part in ("filter_spad", "ifmap_spad", "psum_spad", "multipliers", "mac_registers"):
        assert halved[f"area_{part}_mm2"] == pytest.approx(full[f"area_{part}_mm2"] / 2)
    assert halved["area_glb_mm2"] == full["area_glb_mm2"]


def test_unknown_parts_and_empty_buffers_are_refused():
    with pytest.raises(ValueError):
        part_areas_mm2([AreaPart("x", "wires")], 45)
    with pytest.raises(ValueError):
        sram_um2(0)
    with pytest.raises(ValueError):
        sram_um2(1024, 0)


def test_sweep_tables_carry_each_points_area():
    sweep = make_sweep("diannao", "lenet5", {"buffers.sb.size_kib": [8, 32]})
    points = run_sweep(sweep, jobs=1, progress=False).points
    for _, row in points.iterrows():
        config = with_overrides(load_arch("diannao"), {"buffers.sb.size_kib":
                                                       row["buffers.sb.size_kib"]})
        assert row["area_mm2"] == pytest.approx(design_area(config)["area_mm2"])
    assert points["area_mm2"].is_monotonic_increasing and points["area_mm2"].nunique() == 2

"""The area model: parts add up to the total, area grows with capacity and with the number
of PEs, scales with the node, and reaches the sweep's tables."""

from __future__ import annotations

import pytest

from accelsim.config import load_arch, with_overrides
from accelsim.cost.area import AreaPart, area_table, node_scale, part_areas_mm2, sram_um2, unit_um2
from accelsim.files import shipped
from accelsim.sim.area import area_parts, design_area
from accelsim.sweep import make_sweep, run_sweep


@pytest.mark.parametrize("name", sorted(shipped("arch_configs")))
def test_the_parts_add_up_to_the_total_on_every_shipped_arch(name):
    area = design_area(load_arch(name))
    parts = {k: v for k, v in area.items() if k != "area_mm2"}
    assert area["area_mm2"] == pytest.approx(sum(parts.values()), rel=1e-12)
    assert all(v > 0 for v in parts.values()) and "area_multipliers_mm2" in parts


def test_sram_area_grows_with_capacity():
    small = [sram_um2(size) for size in range(1, 400)]   # registers, then the smallest SRAM
    assert all(a <= b for a, b in zip(small, small[1:], strict=False))
    assert small[0] < small[-1]
    large = [sram_um2(size) for size in (384, 1024, 8192, 131072, 1 << 20)]
    assert all(a < b for a, b in zip(large, large[1:], strict=False)), large
    diannao = load_arch("diannao")
    totals = [design_area(with_overrides(diannao, {"buffers.sb.size_kib": kib}))
              for kib in (8, 32, 128)]
    assert totals[0]["area_sb_mm2"] < totals[1]["area_sb_mm2"] < totals[2]["area_sb_mm2"]
    assert totals[0]["area_nbin_mm2"] == totals[2]["area_nbin_mm2"]


def test_the_table_reproduces_its_own_points_and_units_grow_with_width():
    for row in area_table()["sram"]:
        assert sram_um2(row["bytes"]) == pytest.approx(row["um2"])
    for kind in ("multiplier", "adder"):
        widths = [unit_um2(kind, bits) for bits in (8, 16, 32)]
        assert widths[0] < widths[1] < widths[2]
        assert unit_um2(kind, 32, floating=True) > widths[2]


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
    for part in ("filter_spad", "ifmap_spad", "psum_spad", "multipliers"):
        assert halved[f"area_{part}_mm2"] == pytest.approx(full[f"area_{part}_mm2"] / 2)
    assert halved["area_glb_mm2"] == full["area_glb_mm2"]


def test_unknown_parts_and_empty_buffers_are_refused():
    with pytest.raises(ValueError):
        part_areas_mm2([AreaPart("x", "wires")], 45)
    with pytest.raises(ValueError):
        sram_um2(0)


def test_sweep_tables_carry_each_points_area():
    sweep = make_sweep("diannao", "lenet5", {"buffers.sb.size_kib": [8, 32]})
    points = run_sweep(sweep, jobs=1, progress=False).points
    for _, row in points.iterrows():
        config = with_overrides(load_arch("diannao"), {"buffers.sb.size_kib":
                                                       row["buffers.sb.size_kib"]})
        assert row["area_mm2"] == pytest.approx(design_area(config)["area_mm2"])
    assert points["area_mm2"].is_monotonic_increasing and points["area_mm2"].nunique() == 2

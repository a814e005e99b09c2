"""Every figure kind, drawn from a small real simulation: the bars and lines show the
simulated numbers, colours follow the architecture, and no two texts overlap."""

from __future__ import annotations

import itertools

import matplotlib.text
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle

from accelsim import plot
from accelsim.cli import main
from accelsim.columns import axis_label
from accelsim.compare import compare
from accelsim.sweep import make_sweep, pareto_front, run_sweep
from accelsim.workload.formats.yaml_network import network_from_dict

NET = network_from_dict({
    "name": "net", "input": [3, 20, 20],
    "layers": [
        {"name": "conv1", "kind": "conv", "out_channels": 32, "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "conv2", "kind": "conv", "out_channels": 48, "kernel": 3, "relu": True},
        {"name": "pool", "kind": "pool", "op": "max", "kernel": 2, "stride": 2},
        {"name": "conv3", "kind": "conv", "out_channels": 64, "kernel": 3, "pad": 1,
         "relu": True},
        {"name": "fc", "kind": "fc", "out_channels": 10},
    ]}, "net")


@pytest.fixture(scope="module")
def comparison():
    return compare(["diannao", "dadiannao", "cnvlutin"], ["lenet5", NET], seed=1,
                   baseline="dadiannao")


@pytest.fixture(scope="module")
def swept():
    sweep = make_sweep("diannao", ["lenet5", NET],
                       {"buffers.sb.size_kib": [1, 4, 16, 64], "dram.bytes_per_cycle": [2, 8, 32],
                        "buffers.nbin.size_kib": [1, 4]}, name="plot-test")
    return run_sweep(sweep, jobs=1, progress=False)


def _drawn_texts(figure):
    """(text, window box) of every non-empty text the renderer really draws (an axis keeps
    tick labels it does not draw: those outside the view)."""
    drawn_objects, draw = [], matplotlib.text.Text.draw

    def recording_draw(text, renderer):
        if text.get_visible() and text.get_text().strip():
            drawn_objects.append(text)
        return draw(text, renderer)

    canvas = FigureCanvasAgg(figure)
    matplotlib.text.Text.draw = recording_draw
    try:
        canvas.draw()
    finally:
        matplotlib.text.Text.draw = draw
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in drawn_objects]
    return [(text, box) for text, box in boxes if box.width > 0]


def _assert_readable(figure):
    texts = _drawn_texts(figure)
    assert any(t for t, _ in texts), "a figure without text"
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(texts, 2)
               if box_a.shrunk(0.98, 0.9).overlaps(box_b.shrunk(0.98, 0.9))]
    assert not clashes, f"overlapping texts: {clashes[:5]}"
    inside = figure.bbox.padded(2)
    outside = [t for t, box in texts if not (inside.contains(box.x0, box.y0)
                                              and inside.contains(box.x1, box.y1))]
    assert not outside, f"texts cut off at the figure's edge: {outside}"


def _bars(ax, color=None):
    return [p for p in ax.patches if isinstance(p, Rectangle)
            and (color is None or np.allclose(p.get_facecolor()[:3], _rgb(color)))]


def _rgb(color):
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def test_speedup_bars_are_the_simulated_time_ratios(comparison, tmp_path):
    figure = plot.speedup(comparison.layers)
    ax = figure.axes[0]
    assert "dadiannao" in ax.get_title()
    for arch in ("diannao", "cnvlutin"):
        heights = [bar.get_y() + bar.get_height() for bar in _bars(ax, plot.arch_color(arch))]
        expected = [comparison.results[(w, "dadiannao")].summary["time_ms"]
                    / comparison.results[(w, arch)].summary["time_ms"] for w in ("lenet5", "net")]
        expected.append(float(np.exp(np.mean(np.log(expected)))))   # the geomean group
        assert heights == pytest.approx(expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lenet5", "net", "geomean"]
    _assert_readable(figure)
    png, svg = plot.save(figure, tmp_path / "s.png", tmp_path / "s.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:400]
    again = plot.save(plot.speedup(comparison.layers), tmp_path / "t.png")[0]
    assert again.read_bytes() == png.read_bytes()   # no timestamps: same figure, same file


def test_energy_ratio_uses_the_networks_table_too(comparison):
    figure = plot.speedup(comparison.networks, metric="energy_ratio")
    heights = [bar.get_y() + bar.get_height()
               for bar in _bars(figure.axes[0], plot.arch_color("cnvlutin"))]
    networks = comparison.networks.set_index(["workload", "arch"])
    assert heights[:2] == pytest.approx([networks.loc[(w, "cnvlutin"), "energy_ratio"]
                                         for w in ("lenet5", "net")])


def test_cycle_bars_stack_compute_under_stall(comparison):
    """Asked for cycles, the bars are the simulated cycles, and the title warns that the
    architectures' clocks differ (DianNao 980 MHz, DaDianNao and Cnvlutin 606 MHz)."""
    figure = plot.cycles(comparison.layers, "net", metric="cycles")
    ax = figure.axes[0]
    for arch in ("diannao", "cnvlutin"):
        result = comparison.results[("net", arch)].layers
        bars = _bars(ax, plot.arch_color(arch))
        compute, stall = bars[:len(result)], bars[len(result):]
        assert [b.get_height() for b in compute] == result["compute_cycles"].tolist()
        assert [b.get_y() + b.get_height() for b in stall] == result["cycles"].tolist()
    assert "net" in ax.get_title() and "different clocks" in ax.get_title()
    assert ax.get_ylabel() == axis_label("cycles")
    _assert_readable(figure)


def test_cycle_bars_compare_time_when_clocks_differ(comparison):
    """By default, architectures at different clocks are compared in time: each bar is
    the layer's time, its compute part compute_cycles at the architecture's clock."""
    clocks = {r.meta["arch"]: r.meta["clock_mhz"] for r in comparison.results.values()}
    assert len(set(clocks.values())) > 1
    figure = plot.cycles(comparison.layers, "net")
    ax = figure.axes[0]
    for arch in ("diannao", "cnvlutin"):
        result = comparison.results[("net", arch)].layers
        bars = _bars(ax, plot.arch_color(arch))
        compute, stall = bars[:len(result)], bars[len(result):]
        assert [b.get_height() for b in compute] == pytest.approx(
            (result["compute_cycles"] / clocks[arch]).tolist())
        assert [b.get_y() + b.get_height() for b in stall] == pytest.approx(
            result["time_us"].tolist())
    assert ax.get_ylabel() == axis_label("time_us") and "different clocks" not in \
        ax.get_title()
    one_clock = comparison.layers[comparison.layers["arch"] != "diannao"]
    assert plot.cycles(one_clock, "net").axes[0].get_ylabel() == axis_label("cycles")
    _assert_readable(figure)


def test_energy_stacks_sum_to_the_simulated_energy(comparison):
    several = plot.energy(comparison.layers, "lenet5")
    ax = several.axes[0]
    tops = {}
    for bar in _bars(ax):
        tops[round(bar.get_x(), 6)] = max(tops.get(round(bar.get_x(), 6), 0),
                                          bar.get_y() + bar.get_height())
    expected = [comparison.results[("lenet5", a)].summary["energy_uj"]
                for a in ("diannao", "dadiannao", "cnvlutin")]
    assert [tops[x] for x in sorted(tops)] == pytest.approx(expected)
    _assert_labels_contrast(several.axes[1])   # white on dark parts, dark on light (nbout)
    _assert_readable(several)
    one = comparison.layers[comparison.layers["arch"] == "cnvlutin"]
    single = plot.energy(one, "net")
    tops = {}
    for bar in _bars(single.axes[0]):
        tops[round(bar.get_x(), 6)] = bar.get_y() + bar.get_height()
    expected = comparison.results[("net", "cnvlutin")].layers["energy_pj"] / 1e6
    assert [tops[x] for x in sorted(tops)] == pytest.approx(expected.tolist())
    legend = {t.get_text() for t in single.legends[0].get_texts()}
    parts = {c[7:-3] for c in one.columns if c.startswith("energy_") and c.endswith("_pj")
             and c != "energy_pj" and one[c].sum() > 0}
    assert legend <= parts | {"other"} and {"sb", "nfu"} <= legend
    _assert_readable(single)


def test_energy_legend_has_one_entry_per_colour_and_labels_contrast():
    mixed = compare(["diannao", "eyeriss", "systolic"], [NET], seed=1)
    figure = plot.energy(mixed.layers, "net")
    legend = figure.legends[0]
    swatches = [tuple(h.get_facecolor()) for h in legend.legend_handles]
    assert len(set(swatches)) == len(swatches), "two legend entries share a colour"
    labels = [t.get_text() for t in legend.get_texts()]
    compute = [label for label in labels if "nfu" in label.split(" / ")]
    assert compute and {"pe", "array"} <= set(compute[0].split(" / "))   # one colour, one entry
    _assert_labels_contrast(figure.axes[1])
    _assert_readable(figure)


def _assert_labels_contrast(share) -> None:
    """The share panel's percent labels stand out from the segments they sit on."""
    bars = [bar for container in share.containers for bar in container]
    assert len(share.texts) == len(bars)   # bar_label: one text per bar, in the same order
    labelled = [(t, b) for t, b in zip(share.texts, bars, strict=True) if t.get_text()]
    for text, bar in labelled:
        assert _contrast(text.get_color(), bar.get_facecolor()) >= 3, text.get_text()
    assert len(labelled) >= 3


def _contrast(one, other) -> float:
    """WCAG contrast ratio of two colours."""
    from matplotlib.colors import to_rgb

    def luminance(color):
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in to_rgb(color)]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_utilization_bars_in_percent(comparison):
    figure = plot.utilization(comparison.layers, "lenet5")
    bars = _bars(figure.axes[0], plot.arch_color("cnvlutin"))
    expected = 100 * comparison.results[("lenet5", "cnvlutin")].layers["utilization"]
    assert [b.get_height() for b in bars] == pytest.approx(expected.tolist())
    _assert_readable(figure)


def test_sweep_lines_follow_the_points_table(swept):
    figure = plot.sweep(swept.points, "buffers.sb.size_kib", "dram.bytes_per_cycle",
                        "cycles", where={"buffers.nbin.size_kib": "4"})
    assert len(figure.axes) == 2 and "buffers.nbin.size_kib=4" in figure.get_suptitle()
    ax = figure.axes[0]
    assert len(ax.lines) == 3
    rows = swept.points[(swept.points["workload"] == "lenet5") & (swept.points["status"] == "ok")
                        & (swept.points["buffers.nbin.size_kib"] == 4)
                        & (swept.points["dram.bytes_per_cycle"] == 8)].sort_values(
        "buffers.sb.size_kib")
    line = ax.lines[1]
    assert line.get_xdata().tolist() == rows["buffers.sb.size_kib"].tolist()
    assert line.get_ydata().tolist() == rows["cycles"].tolist()
    assert "failed runs not shown" in figure.get_suptitle()   # a 1 KiB SB cannot map lenet5
    _assert_readable(figure)


def test_pareto_rings_the_front(swept):
    figure = plot.pareto(swept.points, color="dram.bytes_per_cycle")
    ok = swept.points[swept.points["status"] == "ok"]
    front = ok[pareto_front(ok)]
    for ax, workload in zip(figure.axes, ("lenet5", "net"), strict=True):
        ringed = [c for c in ax.collections if isinstance(c, PathCollection)
                  and c.get_label() == "Pareto front"][0]
        expected = front[front["workload"] == workload].sort_values("cycles")
        assert ringed.get_offsets()[:, 0].tolist() == expected["cycles"].tolist()
        assert ringed.get_offsets()[:, 1].tolist() == expected["energy_uj"].tolist()
    _assert_readable(figure)


def test_architectures_keep_their_colours():
    assert plot.arch_color("cnvlutin") == plot.arch_color("cnvlutin") != plot.arch_color(
        "dadiannao")
    assert plot.arch_color("my_design") == plot.arch_color("my_design")


def test_cli_plots_from_written_tables(comparison, swept, tmp_path, capsys):
    comparison.save(tmp_path / "cmp.parquet")
    swept.save(tmp_path / "sweep.parquet")
    for args in (["speedup", str(tmp_path / "cmp.parquet")],
                 ["cycles", str(tmp_path / "cmp.parquet"), "--workload", "net"],
                 ["pareto", str(tmp_path / "sweep.parquet")],
                 ["sweep", str(tmp_path / "sweep.parquet"), "--x", "dram.bytes_per_cycle",
                  "--line", "buffers.sb.size_kib", "--metric", "energy_uj"]):
        target = tmp_path / f"{args[0]}.svg"
        assert main(["plot", *args, "-o", str(target), "-o", str(target.with_suffix(".png"))]) \
            == 0, capsys.readouterr().err
        assert target.exists() and target.with_suffix(".png").exists()
    assert main(["plot", "sweep", str(tmp_path / "sweep.parquet")]) == 2
    assert "needs --x KEY" in capsys.readouterr().err
    assert main(["plot", "sweep", str(tmp_path / "sweep.parquet"), "--x", "nope"]) == 2
    assert "not a swept key" in capsys.readouterr().err


def test_a_run_table_gets_its_arch_from_its_meta(comparison, tmp_path):
    comparison.results[("net", "cnvlutin")].save(tmp_path / "run.parquet")
    table = plot.read_tables([tmp_path / "run.parquet"], "utilization")
    assert set(table["arch"]) == {"cnvlutin"} and set(table["workload"]) == {"net"}
    bars = _bars(plot.utilization(table).axes[0], plot.arch_color("cnvlutin"))
    assert len(bars) == len(NET.layers)
    pd.testing.assert_series_equal(table["cycles"], comparison.results[
        ("net", "cnvlutin")].layers["cycles"])


# ---- labels, axes from zero, --layers, many architectures (issue 27, item 5) ----------------
def _labels(figure):
    return [text for ax in figure.axes for text in (ax.get_xlabel(), ax.get_ylabel()) if text]


def test_plot_labels_come_from_the_column_table(comparison, swept):
    """Every axis label is the column table's label of what the axis shows; none is a raw
    column name."""
    figures = {
        "speedup": (plot.speedup(comparison.layers), {axis_label("speedup", "over dadiannao")}),
        "cycles": (plot.cycles(comparison.layers, "net"),
                   {axis_label("time_us"), axis_label("stall_cycles", unit="% of cycles"),
                    axis_label("layer")}),
        "energy": (plot.energy(comparison.layers, "net"), {axis_label("energy_pj", unit="µJ")}),
        "utilization": (plot.utilization(comparison.layers, "net"),
                        {axis_label("utilization", unit="%"), axis_label("layer")}),
        "sweep": (plot.sweep(swept.points, "buffers.sb.size_kib", "dram.bytes_per_cycle",
                             "time_ms"),
                  {"SB size (KiB)", "Time (ms)"}),
        "pareto": (plot.pareto(swept.points), {axis_label("cycles"), axis_label("energy_uj")}),
    }
    for kind, (figure, expected) in figures.items():
        labels = set(_labels(figure))
        assert labels == expected, kind
        assert not any("_" in label for label in labels), kind
    legend = figures["sweep"][0].axes[-1].get_legend()
    assert legend.get_title().get_text() == axis_label("dram.bytes_per_cycle")


def test_sweep_and_pareto_axes_start_at_zero_unless_zoomed(swept):
    figure = plot.sweep(swept.points, "buffers.sb.size_kib", "dram.bytes_per_cycle", "time_ms")
    linear = [ax for ax in figure.axes if ax.get_yscale() == "linear"]
    assert linear and all(ax.get_ylim()[0] == 0 for ax in linear)
    zoomed = plot.sweep(swept.points, "buffers.sb.size_kib", "dram.bytes_per_cycle",
                        "time_ms", zoom=True)
    for ax in (a for a in zoomed.axes if a.get_yscale() == "linear"):
        lowest = min(min(line.get_ydata()) for line in ax.lines)
        assert 0 < ax.get_ylim()[0] <= lowest
    for ax in plot.pareto(swept.points).axes:
        for scale, limits in ((ax.get_xscale(), ax.get_xlim()), (ax.get_yscale(), ax.get_ylim())):
            assert scale == "log" or limits[0] == 0


def test_sweep_compares_time_when_the_clocks_differ():
    sweep = make_sweep("diannao", ["lenet5"], {"clock_mhz": [500, 1000]}, name="clocks")
    points = run_sweep(sweep, jobs=1, progress=False).points
    figure = plot.sweep(points, "clock_mhz")
    assert figure.axes[0].get_ylabel() == axis_label("time_ms")
    assert figure.axes[0].lines[0].get_ydata().tolist() == points.sort_values(
        "clock_mhz")["time_ms"].tolist()
    assert plot.pareto(points).axes[0].get_xlabel() == axis_label("time_ms")


def test_conv_layers_only_speedup(comparison):
    figure = plot.speedup(comparison.layers, kinds="conv")
    ax = figure.axes[0]
    networks = comparison.networks.set_index(["workload", "arch"])
    expected = [networks.loc[(w, "cnvlutin"), "conv_speedup"] for w in ("lenet5", "net")]
    expected.append(float(np.exp(np.mean(np.log(expected)))))
    heights = [bar.get_y() + bar.get_height() for bar in _bars(ax, plot.arch_color("cnvlutin"))]
    assert heights == pytest.approx(expected)
    assert "conv layers only" in ax.get_title()
    assert ax.get_ylabel() == axis_label("conv_speedup", "over dadiannao")
    with pytest.raises(plot.PlotError, match="per-layer table"):
        plot.speedup(comparison.networks, kinds="conv")
    conv = comparison.layers[comparison.layers["kind"] == "conv"]
    for kind in ("cycles", "utilization"):
        ticks = [t.get_text() for a in plot.make(kind, comparison.layers, workload="net",
                                                 layers="conv").axes for t in a.get_xticklabels()]
        assert sorted(t for t in ticks if t) == sorted(set(conv[conv["workload"] == "net"]
                                                           ["layer"]))


def test_the_fc_share_is_shown_when_it_dominates(comparison):
    """A network whose fc layers take most of some architecture's time says so under its
    name; others do not."""
    shares = comparison.networks.set_index(["workload", "arch"])["fc_share"]
    heavy = comparison.layers.copy()
    fc = (heavy["workload"] == "net") & (heavy["kind"] == "fc")
    heavy.loc[fc, "time_us"] *= 1000   # now the fc layer takes almost all the time
    light = comparison.layers.copy()
    light.loc[light["kind"] == "fc", "time_us"] /= 1000
    for table, dominated in ((heavy, {"net"}), (light, set())):
        ticks = [t.get_text() for t in plot.speedup(table).axes[0].get_xticklabels()]
        marked = {t.split("\n")[0] for t in ticks if "\nfc: " in t}
        assert marked == dominated
    ticks = [t.get_text() for t in plot.speedup(comparison.layers).axes[0].get_xticklabels()]
    marked = {t.split("\n")[0] for t in ticks if "\nfc: " in t}
    assert marked == {w for (w, _), share in shares.items() if share > 0.5}


def _many_archs(comparison, count: int) -> pd.DataFrame:
    """A comparison table of ``count`` architectures: the three simulated ones under more
    names, each slower by a factor (what a 12-architecture compare prints)."""
    frames = []
    for i in range(count):
        arch = ("diannao", "dadiannao", "cnvlutin")[i % 3]
        rows = comparison.layers[comparison.layers["arch"] == arch].copy()
        factor = 1 + i // 3
        rows[["cycles", "compute_cycles", "stall_cycles", "time_us"]] *= factor
        rows["arch"] = arch if i < 3 else f"{arch}_x{factor}"
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("kind", ["speedup", "cycles", "energy", "utilization"])
def test_twelve_architectures_stay_legible(comparison, kind):
    table = _many_archs(comparison, 12)
    figure = plot.make(kind, table, workload="lenet5", baseline="dadiannao")
    width, height = figure.get_size_inches() * 150
    assert width <= 1800 and height <= 2400, (width, height)
    _assert_readable(figure)
    for ax in figure.axes:   # no bar cut off by its panel's limits
        if ax.get_yscale() == "linear" and _bars(ax):
            assert max(b.get_y() + b.get_height() for b in _bars(ax)
                       if np.isfinite(b.get_height())) <= ax.get_ylim()[1]
    colors = {tuple(np.round(b.get_facecolor()[:3], 3)) for ax in figure.axes
              for b in _bars(ax)} if kind != "energy" else set()
    if kind in ("cycles", "utilization"):
        assert len(colors) == 12   # one colour per architecture
        ticks = [t.get_text() for ax in figure.axes for t in ax.get_xticklabels() if t.get_text()]
        layers = table[table["workload"] == "lenet5"]["layer"].unique().tolist()
        assert sorted(ticks) == sorted(layers)   # every layer once, wrapped or not


def test_cli_plot_layers_and_zoom(comparison, swept, tmp_path, capsys):
    comparison.save(tmp_path / "cmp.parquet")
    swept.save(tmp_path / "sweep.parquet")
    assert main(["plot", "speedup", str(tmp_path / "cmp.parquet"), "--layers", "conv",
                 "-o", str(tmp_path / "conv.png")]) == 0, capsys.readouterr().err
    assert main(["plot", "sweep", str(tmp_path / "sweep.parquet"), "--x",
                 "buffers.sb.size_kib", "--zoom", "-o", str(tmp_path / "z.png")]) == 0
    assert (tmp_path / "conv.png").exists() and (tmp_path / "z.png").exists()
    assert main(["plot", "pareto", str(tmp_path / "sweep.parquet"), "--layers", "fc"]) == 2
    assert "--layers fc" in capsys.readouterr().err

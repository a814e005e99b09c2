"""The look shared by accelsim's figures: colours that follow an architecture (or an energy
component) from figure to figure, fonts and grid, and writing PNG or SVG without timestamps.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib as mpl
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#8C8C8C", "#CCB974", "#64B5CD")
ARCH_COLORS = {"diannao": PALETTE[0], "dadiannao": PALETTE[1], "cnvlutin": PALETTE[2],
               "eyeriss": PALETTE[3], "systolic": PALETTE[4], "phantom2d": PALETTE[5],
               "phantom2d_dense": PALETTE[7], "scnn": PALETTE[6], "sparten": PALETTE[8],
               "eyeriss_v2": PALETTE[9], "eie": "#17BECF"}
COMPONENT_COLORS = {"dram": "#4D4D4D", "nfu": "#C44E52", "pe": "#C44E52", "array": "#C44E52",
                    "sb": "#4C72B0", "nbin": "#55A868", "nbout": "#CCB974", "glb": "#8172B3",
                    "dispatcher": "#DA8BC3", "encoder": "#937860", "other": "#C8C8C8"}
EXTRA_COLORS = ("#64B5CD", "#FF9F9B", "#8DE5A1", "#FFB482", "#D0BBFF", "#DEBB9B", "#FAB0E4",
                "#1F77B4", "#17BECF", "#BCBD22", "#9467BD", "#E377C2", "#7F7F7F", "#2CA02C",
                "#FF7F0E", "#D62728")
STYLE = {"font.size": 9, "axes.titlesize": 11, "axes.titleweight": "bold",
         "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
         "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "axes.grid.axis": "y", "grid.alpha": 0.35,
         "svg.hashsalt": "accelsim", "svg.fonttype": "path"}


def arch_color(name: str) -> str:
    """The architecture's colour: fixed for shipped designs, else from its name's hash."""
    return ARCH_COLORS.get(name, PALETTE[zlib.crc32(name.encode()) % len(PALETTE)])


def arch_colors(archs: list[str]) -> dict[str, str]:
    """Distinct colours for one figure's architectures: each keeps :func:`arch_color`
    unless an earlier one took it, then the next free colour (legible up to 26 designs)."""
    pool = list(dict.fromkeys(PALETTE + EXTRA_COLORS))
    taken, colors = set(), {}
    for arch in archs:
        color = arch_color(arch)
        if color in taken:
            start = pool.index(color) if color in pool else 0
            color = next((c for c in pool[start:] + pool[:start] if c not in taken), color)
        colors[arch] = color
        taken.add(color)
    return colors


MAX_WIDTH_IN = 12.0
"""The widest figure (inches; 1800 px at the saved 150 dpi): wider ones wrap or rotate."""


def legend_columns(entries: int) -> int:
    """Columns of a legend below a figure: one row up to 6 entries, else wrapped."""
    return entries if entries <= 6 else -(-entries // -(-entries // 6))


def component_colors(names: list[str]) -> dict[str, str]:
    """Colours for a figure's components: fixed ones for the common parts (DRAM is always
    dark grey), distinct others in order of appearance."""
    spare = iter(c for c in EXTRA_COLORS if c not in COMPONENT_COLORS.values())
    return {name: COMPONENT_COLORS.get(name) or next(spare, "#999999") for name in names}


def text_color(background: str) -> str:
    """White on a dark fill, near-black on a light one (WCAG relative luminance)."""
    channels = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                for c in to_rgb(background)]
    luminance = 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]
    return "white" if luminance < 0.18 else "#222222"


def by_color(handles: list, colors: dict[str, str]) -> tuple[list, list[str]]:
    """Legend entries, one per colour: components that share one (a core's compute unit:
    nfu, pe, array) are named together, as "nfu / pe"."""
    groups: dict[str, list[str]] = {}
    first = {}
    for handle in handles:
        name = handle.get_label()
        groups.setdefault(colors[name], []).append(name)
        first.setdefault(colors[name], handle)
    return list(first.values()), [" / ".join(names) for names in groups.values()]


def save(figure: Figure, *paths: str | Path) -> list[Path]:
    """Write ``figure`` to each path, PNG or SVG by suffix, without timestamps (the same
    figure gives the same bytes)."""
    written = []
    for path in map(Path, paths):
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise ValueError(f"{path}: figures are written as .png or .svg")
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
        with mpl.rc_context(STYLE):
            figure.savefig(path, format=fmt, dpi=150, metadata=metadata)
        written.append(path)
    return written


def new_figure(width: float, height: float, panels: int = 1, sharey: bool = False):
    """A constrained-layout figure (inches) with ``panels`` axes side by side."""
    with mpl.rc_context(STYLE):
        figure = Figure(figsize=(width, height), layout="constrained")
        axes = figure.subplots(1, panels, sharey=sharey, squeeze=False)[0]
    return figure, list(axes)


def styled(function):
    """Run a plotting function under :data:`STYLE` (fonts, grid, spines)."""
    def wrapper(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return function(*args, **kwargs)
    wrapper.__doc__, wrapper.__name__ = function.__doc__, function.__name__
    return wrapper

"""``accelsim plot trace``: the timeline figure draws exactly the spans of a run's trace JSON,
each where its cycles put it, filtered by --layers and --window; bad input is one line."""

from __future__ import annotations

import json

import pytest
from matplotlib.collections import PolyCollection

from accelsim import plot, simulate
from accelsim.cli import main
from accelsim.sim.trace import Timeline, write_chrome_trace


@pytest.fixture(scope="module")
def trace_path(tmp_path_factory):
    timeline = Timeline()
    simulate("diannao", "lenet5", trace=timeline)
    return write_chrome_trace(tmp_path_factory.mktemp("trace") / "lenet5.json", timeline,
                              980.0, "lenet5")


def _json_spans(path, keep=lambda event: True):
    """(start cycle, cycles) of the trace's complete events that ``keep`` accepts."""
    events = json.loads(path.read_text())["traceEvents"]
    return sorted((e["args"]["start_cycle"], e["args"]["cycles"]) for e in events
                  if e["ph"] == "X" and keep(e))


def _drawn_spans(figure):
    """(start, width) of every bar the timeline drew, read back from its collections."""
    drawn = []
    for axes in figure.axes:
        for collection in axes.collections:
            if isinstance(collection, PolyCollection) and (collection.get_gid() or "").startswith(
                    "spans:"):
                for path in collection.get_paths():
                    xs = path.vertices[:, 0]
                    drawn.append((round(xs.min()), round(xs.max() - xs.min())))
    return sorted(drawn)


def _layer_of(event):
    return event["name"] if event["cat"] == "layer" else event["args"]["layer"]


def test_the_figure_draws_every_span_of_the_trace_where_its_cycles_put_it(trace_path):
    trace = plot.read_trace(trace_path)
    figure = plot.timeline(trace)
    expected = _json_spans(trace_path)
    assert len(expected) > 20
    assert _drawn_spans(figure) == expected
    rows = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert rows == ["diannao core 0 drain", "diannao core 0 compute", "diannao core 0 fetch",
                    "layers"]
    assert figure.axes[0].get_xlim() == (0, trace["otherData"]["accelsim.cycles"])


def test_layers_and_a_window_keep_only_their_spans(trace_path):
    trace = plot.read_trace(trace_path)
    chosen = ["c3", "s4"]
    figure = plot.timeline(trace, layers=chosen)
    assert _drawn_spans(figure) == _json_spans(trace_path, lambda e: _layer_of(e) in chosen)
    first, last = 1000, 5000
    windowed = plot.timeline(trace, window=(first, last))
    expected = _json_spans(trace_path, lambda e: e["args"]["start_cycle"] < last
                           and e["args"]["start_cycle"] + e["args"]["cycles"] > first)
    assert 0 < len(expected) < len(_json_spans(trace_path))
    assert _drawn_spans(windowed) == expected
    assert windowed.axes[0].get_xlim() == (first, last)


def test_the_command_writes_the_png(trace_path, tmp_path, capsys):
    out = tmp_path / "timeline.png"
    assert main(["plot", "trace", str(trace_path), "--layers", "c1,c3", "--window",
                 "0:40000", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["--layers", "conv9"], "--layers conv9: not in the trace"),
    (["--window", "10:x"], "--window 10:x: expected FIRST:LAST"),
    (["--window", "50:10"], "--window 50:10"),
])
def test_bad_options_are_one_line(trace_path, capsys, args, message):
    assert main(["plot", "trace", str(trace_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_file_that_is_not_a_trace_is_one_line(tmp_path, capsys):
    bad = tmp_path / "table.json"
    bad.write_text('{"rows": []}')
    assert main(["plot", "trace", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}: not a Chrome Trace Event JSON" in err[0], err

"""``accelsim run --trace``: the timeline as Chrome Trace Event JSON (Perfetto's format)."""

import json

import pytest

from accelsim import simulate
from accelsim.cli import main
from accelsim.sim.trace import Timeline, chrome_trace

REQUIRED = {"X": {"name", "ph", "ts", "dur", "pid", "tid"}, "M": {"name", "ph", "pid", "args"}}


@pytest.mark.parametrize("arch", ["diannao", "eyeriss", "phantom2d", "systolic"])
def test_the_trace_loads_and_its_spans_add_up_to_the_reported_cycles(arch, tmp_path, capsys):
    path = tmp_path / "run.json"
    assert main(["run", "--arch", arch, "--workload", "lenet5", "-q", "--trace", str(path),
                 "-o", str(tmp_path / "run.csv")]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    for event in events:
        assert REQUIRED[event["ph"]] <= event.keys(), event
    import pandas as pd

    table = pd.read_csv(tmp_path / "run.csv")
    layers = [e for e in events if e["ph"] == "X" and e["cat"] == "layer"]
    assert [e["name"] for e in layers] == list(table["layer"])
    assert [e["args"]["cycles"] for e in layers] == list(table["cycles"])
    assert trace["otherData"]["accelsim.cycles"] == table["cycles"].sum()
    # the layers run end to end, and every phase lies inside its layer's span
    starts = [e["args"]["start_cycle"] for e in layers]
    assert starts == [sum(table["cycles"][:i]) for i in range(len(table))]
    span = {e["name"]: (e["args"]["start_cycle"], e["args"]["cycles"]) for e in layers}
    phases = [e for e in events if e["ph"] == "X" and e["cat"] != "layer"]
    assert phases and {e["cat"] for e in phases} <= {"fetch", "compute", "drain"}
    for event in phases:
        first, cycles = span[event["args"]["layer"]]
        assert first <= event["args"]["start_cycle"]
        assert event["args"]["start_cycle"] + event["args"]["cycles"] <= first + cycles
    # each layer's compute phases on its busiest core add up to its compute cycles
    for layer, row in zip(layers, table.itertuples(), strict=True):
        busy = {}
        for e in phases:
            if e["args"]["layer"] == layer["name"] and e["cat"] == "compute":
                busy[e["pid"]] = busy.get(e["pid"], 0) + e["args"]["cycles"]
        assert max(busy.values(), default=0) == row.compute_cycles


def test_a_long_run_is_sampled_and_says_so():
    timeline = Timeline()
    simulate("diannao", "lenet5", trace=timeline)
    whole = chrome_trace(timeline, 1000.0, "lenet5")
    sampled = chrome_trace(timeline, 1000.0, "lenet5", max_events=50)
    assert whole["otherData"]["accelsim.sampled_every"] == 1
    every = sampled["otherData"]["accelsim.sampled_every"]
    assert every > 1
    count = sum(1 for e in sampled["traceEvents"] if e["ph"] == "X" and e["cat"] != "layer")
    assert count < sum(1 for e in whole["traceEvents"] if e["ph"] == "X" and e["cat"] != "layer")
    assert sampled["otherData"]["accelsim.cycles"] == whole["otherData"]["accelsim.cycles"]


def test_an_unwritable_trace_is_one_line(tmp_path, capsys):
    assert main(["run", "--workload", "lenet5", "-q", "--trace",
                 str(tmp_path / "missing" / "t.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the trace" in err[0]

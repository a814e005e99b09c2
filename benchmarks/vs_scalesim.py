"""accelsim's systolic core against SCALE-Sim 3.0.0: the same runs, layer by layer and clock.

For every topology x array size x dataflow, both simulators get the same SCALE-Sim ``.cfg``
(``configs/scale.cfg`` of scale-sim-v3 with ArrayHeight, ArrayWidth and Dataflow set:
64 KB SRAMs, InterfaceBandwidth CALC; ``--mode user`` switches to USER at 10 words a cycle)
and the same topology CSV. SCALE-Sim runs as its users run it (``python -m scalesim.scale``,
which always writes traces; they go to a temporary directory, deleted after each run), one
process per run. accelsim runs every configuration in one worker process (``accelsim.sim.simulate``
on the topology loaded unpadded, then its report CSVs), after a warm-up that loads the numba
kernels. Printed: each layer's total cycles, stall cycles and compute utilization side by
side, the number of report cells that differ and the largest difference, both wall times and
their ratio, and peak memory (max RSS of the processes).

This script installs nothing. SCALE-Sim 3.0.0 needs numpy < 2.4, so it usually lives in its
own virtual environment; point ``--scalesim-python`` (or the ``ACCELSIM_SCALESIM_PYTHON``
environment variable, which ``tests/test_systolic.py`` reads too) at that interpreter, e.g.::

    python3 -m venv /tmp/venv-scalesim && /tmp/venv-scalesim/bin/pip install scalesim 'numpy<2.4'
    python benchmarks/vs_scalesim.py --scalesim-python /tmp/venv-scalesim/bin/python

Without either, SCALE-Sim is used from this interpreter if ``import scalesim`` works; otherwise
the script says so and exits. The topologies are SCALE-Sim's own files, shipped in
``tests/data/scalesim/``. ``--write-reference DIR`` instead stores SCALE-Sim's reports of the
small cases in ``tests/test_systolic.py`` (how ``tests/data/scalesim_reports/`` was made).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOPOLOGIES = ROOT / "tests" / "data" / "scalesim"   # SCALE-Sim's own topology files
CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   {sram}
FilterSramSzkB:  {sram}
OfmapSramSzkB:   {sram}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks:   1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bandwidth}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bandwidth}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""
LAYOUT_HEADER = ("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, "
                 "Filter Height Intraline Factor, Filter Width Intraline Factor, Channel "
                 "Intraline Factor, Num Filter Intraline Factor, IFMAP Height Intraline Order, "
                 "IFMAP Width Intraline Order, Channel Intraline Order, IFMAP Height Interline "
                 "Order, IFMAP Width Interline Order, Channel Interline Order, Num Filter "
                 "Intraline Order, Channel Intraline Order, Filter Height Intraline Order, "
                 "Filter Width Intraline Order, Num Filter Interline Order, Channel Interline "
                 "Order, Filter Height Interline Order, Filter Width Interline Order,\n")
REPORTS = ("COMPUTE_REPORT", "BANDWIDTH_REPORT", "DETAILED_ACCESS_REPORT")


def write_cfg(path: Path, *, name: str, rows: int, cols: int, dataflow: str, mode: str = "CALC",
              sram_kb: int = 64, bandwidth: int = 10) -> Path:
    path.write_text(CFG.format(name=name, rows=rows, cols=cols, dataflow=dataflow, mode=mode,
                               sram=sram_kb, bandwidth=bandwidth))
    return path


def run_scalesim(python: str, cfg: Path, topology: Path, workdir: Path,
                 gemm: bool = False) -> dict:
    """SCALE-Sim's CLI on one run (``-i gemm`` for an M, N, K topology): its reports (text),
    wall and CPU seconds, peak RSS (MB)."""
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "layout.csv"
    layout.write_text(LAYOUT_HEADER)
    out = workdir / "out"
    # stderr to a file, not a pipe: SCALE-Sim's progress bars fill a pipe nobody reads
    # during wait4 and the run would block forever
    with open(workdir / "stderr.txt", "w+b") as log:
        start = time.perf_counter()
        process = subprocess.Popen([python, "-m", "scalesim.scale", "-c", str(cfg), "-t",
                                    str(topology), "-l", str(layout), "-p", str(out),
                                    *(["-i", "gemm"] if gemm else [])],
                                   stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        log.seek(0)
        stderr = log.read().decode(errors="replace")
    process.returncode = status   # reaped by wait4; keeps Popen from waiting again
    if status != 0:
        raise RuntimeError(f"SCALE-Sim failed on {cfg} / {topology}:\n{stderr[-2000:]}")
    run_dir = next(p for p in out.iterdir() if p.is_dir())
    reports = {name: (run_dir / f"{name}.csv").read_text() for name in REPORTS}
    shutil.rmtree(out)   # the traces: gigabytes for the big runs
    return {"reports": reports, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024}


def _worker(runs: list[dict]) -> dict:
    """accelsim on every run, in this process (the ``--worker`` side)."""
    start = time.perf_counter()
    import pandas as pd

    import accelsim
    from accelsim.scalesim.config import load_scalesim_workload, scalesim_arch
    from accelsim.scalesim.reports import write_reports

    imported = time.perf_counter()
    warm = scalesim_arch(runs[0]["cfg"])
    for network in load_scalesim_workload(str(REFERENCE / "tiny.csv")):
        accelsim.simulate(warm, network)
    warmed = time.perf_counter()
    results = []
    for run in runs:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        arch = scalesim_arch(run["cfg"])
        layers = pd.concat([accelsim.simulate(arch, network).layers   # one row, one network
                            for network in load_scalesim_workload(run["topology"])],
                           ignore_index=True)
        paths = write_reports(layers, arch, run["reports"])
        results.append({"seconds": time.perf_counter() - begin,
                        "cpu_seconds": time.process_time() - begin_cpu,
                        "reports": {p.stem: p.read_text() for p in paths}})
    import resource
    return {"runs": results, "import_seconds": imported - start,
            "warmup_seconds": warmed - imported,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_accelsim(runs: list[dict]) -> dict:
    """The worker in a fresh process; adds its total wall time (startup included)."""
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--worker"], input=json.dumps(runs),
                          capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"accelsim worker failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    result["process_seconds"] = time.perf_counter() - start
    return result


def _table(text: str) -> list[list[float]]:
    lines = [line for line in text.splitlines() if line.strip()][1:]
    return [[float(cell) for cell in line.split(",")[:-1]] for line in lines]


def compare_reports(ours: dict, theirs: dict) -> tuple[int, int, float, str]:
    """(cells compared, cells that differ, largest relative difference, where)."""
    cells = differ = 0
    worst, where = 0.0, ""
    for name in REPORTS:
        mine, ref = _table(ours[name]), _table(theirs[name])
        if len(mine) != len(ref):
            return cells, -1, float("inf"), f"{name}: {len(mine)} vs {len(ref)} layers"
        for layer, (a_row, b_row) in enumerate(zip(mine, ref, strict=True)):
            for column, (a, b) in enumerate(zip(a_row, b_row, strict=True)):
                cells += 1
                if a != b:
                    differ += 1
                    gap = abs(a - b) / max(abs(b), 1e-300)
                    if gap > worst:
                        worst, where = gap, f"{name} layer {layer} column {column}"
    return cells, differ, worst, where


REFERENCE = ROOT / "tests" / "data" / "scalesim_reports"
# Cases of tests/test_systolic.py: a 16 x 12 array with 4 KB SRAMs and 7 words a cycle, so
# reads miss, sets roll over and drains stall; every dataflow in both bandwidth modes, and a
# depthwise ("DP") layer, which SCALE-Sim splits into one layer per channel.
REFERENCE_CASES = [(f"{df}_{mode}", "tiny.csv", df, mode) for df in ("os", "ws", "is")
                   for mode in ("calc", "user")] + [("depthwise_os_user", "depthwise.csv", "os",
                                                      "user")]


def write_reference(python: str, directory: Path) -> None:
    """SCALE-Sim's reports of :data:`REFERENCE_CASES`, each beside its ``scale.cfg``."""
    for case, topology, dataflow, mode in REFERENCE_CASES:
        target = directory / case
        target.mkdir(parents=True, exist_ok=True)
        cfg = write_cfg(target / "scale.cfg", name=case, rows=16, cols=12, dataflow=dataflow,
                        mode=mode.upper(), sram_kb=4, bandwidth=7)
        with tempfile.TemporaryDirectory() as work:
            reports = run_scalesim(python, cfg, directory / topology, Path(work))["reports"]
        for name, text in reports.items():
            (target / f"{name}.csv").write_text(text)
        print(f"wrote {target}")


def _scalesim_python(requested: str | None) -> str | None:
    """``--scalesim-python``, else ``$ACCELSIM_SCALESIM_PYTHON``, else this interpreter if it
    can import scalesim, else None."""
    requested = requested or os.environ.get("ACCELSIM_SCALESIM_PYTHON")
    if requested:
        return requested
    return sys.executable if importlib.util.find_spec("scalesim") else None


def _print_layers(label: str, ours: dict, theirs: dict) -> None:
    mine, ref = _table(ours["COMPUTE_REPORT"]), _table(theirs["COMPUTE_REPORT"])
    print(f"\n{label}")
    print(f"  {'layer':>5} {'cycles accelsim':>16} {'SCALE-Sim':>12} {'stalls':>10} "
          f"{'SCALE-Sim':>10} {'compute util %':>15} {'SCALE-Sim':>10}")
    for a, b in zip(mine, ref, strict=False):
        print(f"  {int(a[0]):>5} {int(a[2]):>16,} {int(b[2]):>12,} {int(a[3]):>10,} "
              f"{int(b[3]):>10,} {a[6]:>15.4f} {b[6]:>10.4f}")


def _keep(directory: Path, ours: dict, theirs: dict) -> None:
    for side, reports in (("accelsim", ours), ("scalesim", theirs)):
        (directory / side).mkdir(parents=True, exist_ok=True)
        for name, text in reports.items():
            (directory / side / f"{name}.csv").write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", help="interpreter that can import scalesim")
    parser.add_argument("--topologies", default="alexnet,resnet18",
                        help=f"names in {TOPOLOGIES} or CSV paths (default alexnet,resnet18)")
    parser.add_argument("--arrays", default="32,128", help="square array sizes (default 32,128)")
    parser.add_argument("--dataflows", default="os,ws,is")
    parser.add_argument("--mode", default="calc", choices=("calc", "user"))
    parser.add_argument("--write-reference", type=Path, metavar="DIR",
                        help=f"store SCALE-Sim's reports of the test cases (in {REFERENCE})")
    parser.add_argument("--keep-reports", type=Path, metavar="DIR",
                        help="also store both simulators' reports, DIR/RUN/{accelsim,scalesim}/")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(sys.stdin.read()))))
        return 0
    python = _scalesim_python(args.scalesim_python)
    if python is None:
        print("scalesim is not importable here; install it in its own venv (scalesim 3.0.0 "
              "needs numpy < 2.4) and pass --scalesim-python PATH or set "
              "ACCELSIM_SCALESIM_PYTHON. Nothing was run.")
        return 0
    if args.write_reference:
        write_reference(python, args.write_reference)
        return 0
    return compare_all(python, args)


def compare_all(python: str, args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vs_scalesim_"))
    runs, labels = [], []
    for topology in args.topologies.split(","):
        path = Path(topology) if topology.endswith(".csv") else TOPOLOGIES / f"{topology}.csv"
        for size in (int(s) for s in args.arrays.split(",")):
            for dataflow in args.dataflows.split(","):
                name = f"{path.stem}_{size}x{size}_{dataflow}_{args.mode}"
                cfg = write_cfg(workdir / f"{name}.cfg", name=name, rows=size, cols=size,
                                dataflow=dataflow, mode=args.mode.upper())
                runs.append({"cfg": str(cfg), "topology": str(path),
                             "reports": str(workdir / "accelsim" / name)})
                labels.append(name)
    ours = run_accelsim(runs)
    scalesim_seconds, scalesim_rss, all_cells, all_differ, worst = 0.0, 0.0, 0, 0, (0.0, "")
    scalesim_cpu = 0.0
    print(f"{'run':<28} {'layers':>6} {'cells':>6} {'differ':>6} {'SCALE-Sim s':>12} "
          f"{'accelsim s':>11} {'ratio':>7} {'CPU ratio':>9} {'SCALE-Sim MB':>13}")
    for label, run, mine in zip(labels, runs, ours["runs"], strict=True):
        theirs = run_scalesim(python, Path(run["cfg"]), Path(run["topology"]),
                              workdir / label)
        cells, differ, gap, where = compare_reports(mine["reports"], theirs["reports"])
        layers = len(_table(theirs["reports"]["COMPUTE_REPORT"]))
        print(f"{label:<28} {layers:>6} {cells:>6} {differ:>6} {theirs['seconds']:>12.1f} "
              f"{mine['seconds']:>11.3f} {theirs['seconds'] / mine['seconds']:>7.0f} "
              f"{theirs['cpu_seconds'] / mine['cpu_seconds']:>9.0f} "
              f"{theirs['max_rss_mb']:>13.0f}", flush=True)
        _print_layers(label, mine["reports"], theirs["reports"])
        if args.keep_reports:
            _keep(args.keep_reports / label, mine["reports"], theirs["reports"])
        scalesim_seconds += theirs["seconds"]
        scalesim_cpu += theirs["cpu_seconds"]
        scalesim_rss = max(scalesim_rss, theirs["max_rss_mb"])
        all_cells, all_differ = all_cells + cells, all_differ + max(differ, 0)
        worst = max(worst, (gap, f"{label}: {where}"))
    simulate_seconds = sum(r["seconds"] for r in ours["runs"])
    simulate_cpu = sum(r["cpu_seconds"] for r in ours["runs"])
    print(f"\nreport cells compared {all_cells:,}, differing {all_differ:,}; largest relative "
          f"difference {worst[0]:.3g}{' (' + worst[1] + ')' if worst[1] else ''}")
    print(f"SCALE-Sim: {scalesim_seconds:,.1f} s ({scalesim_cpu:,.1f} s CPU) in {len(runs)} "
          f"processes, peak {scalesim_rss:,.0f}"
          f" MB per process")
    print(f"accelsim:  {simulate_seconds:,.2f} s ({simulate_cpu:,.2f} s CPU) simulating "
          f"({ours['process_seconds']:,.2f} s "
          f"for the whole process: imports {ours['import_seconds']:.2f} s, numba warm-up "
          f"{ours['warmup_seconds']:.2f} s), peak {ours['max_rss_mb']:,.0f} MB")
    print(f"speedup:   {scalesim_seconds / simulate_seconds:,.0f}x simulating, "
          f"{scalesim_seconds / ours['process_seconds']:,.0f}x whole process, "
          f"{scalesim_cpu / simulate_cpu:,.0f}x in CPU time simulating")
    shutil.rmtree(workdir)
    return 0 if all_differ == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""accelsim's systolic core against SCALE-Sim 3.0.0: the same runs, their reports and clocks.

The default run (the issue's acceptance benchmark) has two cases, each given to both
simulators as the same SCALE-Sim ``.cfg`` (64 KB SRAMs, ``InterfaceBandwidth: CALC``) and
topology CSV:

* ``resnet50``: SCALE-Sim's own ResNet-50 topology (54 independent conv rows) on a 32x32
  output-stationary array;
* ``bert``: one BERT-base encoder block at sequence length 512 as a GEMM topology (Q, K, V
  projections, per-head attention scores and context, output projection, FFN up and down;
  12 heads of 64) on a 128x128 output-stationary array.

SCALE-Sim runs as its users run it (``python -m scalesim.scale``, which always writes
traces; they go to a temporary directory, deleted after each run), one process per case,
killed after ``--timeout`` seconds. accelsim runs every case in one worker process
(``accelsim.simulate`` on each row's network, real values included, then its report CSVs)
after a numba warm-up. Printed side by side: wall time, CPU time and peak RSS of both
(SCALE-Sim's child process; accelsim's worker), their ratio, and how many report cells
differ (every cell of every report SCALE-Sim writes, SPARSE_REPORT included when on).

``--topologies alexnet,resnet18 --arrays 32,128 --dataflows os,ws,is`` instead runs that grid
(SCALE-Sim's topology files in ``tests/data/scalesim/``). ``--write-reference DIR`` stores
SCALE-Sim's reports of the small cases of ``tests/test_systolic.py`` and of the overflowing fc
of ``tests/test_systolic_traffic.py`` (``--only CASE``: one of them; the fc takes ~5 min).

This script installs nothing. SCALE-Sim 3.0.0 needs numpy < 2.4, so it usually lives in its
own virtual environment; point ``--scalesim-python`` (or ``ACCELSIM_SCALESIM_PYTHON``, which
``tests/test_systolic.py`` reads too) at that interpreter::

    python3 -m venv /tmp/ss && /tmp/ss/bin/pip install scalesim 'numpy<2.4'
    PYTHONPATH=. python benchmarks/vs_scalesim.py --scalesim-python /tmp/ss/bin/python

:func:`run_scalesim_batch` runs many small cases in one SCALE-Sim process (its library, no
traces): what the live tests use, since starting SCALE-Sim costs more than a small case.
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
OfmapSramSzkB:   {ofmap_sram}
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
SparsitySupport : {sparse}
SparseRep : {rep}
OptimizedMapping : {optimized}
BlockSize : {block}
RandomNumberGeneratorSeed : {seed}

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
REPORTS = ("COMPUTE_REPORT", "BANDWIDTH_REPORT", "DETAILED_ACCESS_REPORT", "SPARSE_REPORT")

# BERT-base (hidden 768, 12 heads of 64, FFN 3072) at sequence length 512, as SCALE-Sim GEMM
# rows (M x K times K x N): one row per projection and per head's attention matmuls.
BERT = (("QKV", 512, 3 * 768, 768),
        *((f"Scores_h{h}", 512, 512, 64) for h in range(12)),
        *((f"Context_h{h}", 512, 64, 512) for h in range(12)),
        ("OutProj", 512, 768, 768), ("FFN_up", 512, 3072, 768), ("FFN_down", 512, 768, 3072))


def write_cfg(path: Path, *, name: str, rows: int, cols: int, dataflow: str, mode: str = "CALC",
              sram_kb: int = 64, bandwidth: int = 10, sparsity: dict | None = None,
              ofmap_kb: int | None = None) -> Path:
    """A SCALE-Sim ``.cfg``; ``sparsity``: ``rep``, ``optimized``, ``block``, ``seed`` (on);
    ``ofmap_kb``: the ofmap SRAM, if not ``sram_kb`` as the ifmap and filter SRAMs."""
    sparse = {"sparse": "false", "rep": "ellpack_block", "optimized": "false", "block": 8,
              "seed": 40}
    if sparsity is not None:
        sparse.update(sparse="true", **{k: str(v).lower() if isinstance(v, bool) else v
                                        for k, v in sparsity.items()})
    path.write_text(CFG.format(name=name, rows=rows, cols=cols, dataflow=dataflow, mode=mode,
                               sram=sram_kb, ofmap_sram=ofmap_kb or sram_kb,
                               bandwidth=bandwidth, **sparse))
    return path


def write_bert(path: Path) -> Path:
    path.write_text("Layer, M, N, K,\n" + "".join(f"{n}, {m}, {nn}, {k},\n"
                                                   for n, m, nn, k in BERT))
    return path


def _read_reports(run_dir: Path) -> dict:
    return {name: (run_dir / f"{name}.csv").read_text() for name in REPORTS
            if (run_dir / f"{name}.csv").exists()}


def run_scalesim(python: str, cfg: Path, topology: Path, workdir: Path, gemm: bool = False,
                 timeout: float | None = None) -> dict:
    """SCALE-Sim's CLI on one run (``-i gemm`` for an M, N, K topology): its reports (text),
    wall and CPU seconds, peak RSS (MB); ``reports`` is None if it ran past ``timeout``."""
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "layout.csv"
    layout.write_text(LAYOUT_HEADER)
    out = workdir / "out"
    # stderr to a file, not a pipe: SCALE-Sim's progress bars fill a pipe nobody reads
    with open(workdir / "stderr.txt", "w+b") as log:
        start = time.perf_counter()
        process = subprocess.Popen([python, "-m", "scalesim.scale", "-c", str(cfg), "-t",
                                    str(topology), "-l", str(layout), "-p", str(out),
                                    *(["-i", "gemm"] if gemm else [])],
                                   stdout=subprocess.DEVNULL, stderr=log)
        # wait4 on this child alone: its own CPU time and peak RSS (RUSAGE_CHILDREN would
        # add up every child this script ever reaped)
        deadline = None if timeout is None else start + timeout
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                process.kill()
                _, status, usage = os.wait4(process.pid, 0)
                timed_out = True
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)   # reaped: Popen must not wait
        seconds = time.perf_counter() - start
        log.seek(0)
        stderr = log.read().decode(errors="replace")
    if not timed_out and process.returncode != 0:
        raise RuntimeError(f"SCALE-Sim failed on {cfg} / {topology}:\n{stderr[-2000:]}")
    reports = None
    if not timed_out:
        reports = _read_reports(next(p for p in out.iterdir() if p.is_dir()))
    shutil.rmtree(out, ignore_errors=True)   # the traces: gigabytes for the big runs
    return {"reports": reports, "seconds": seconds,
            "cpu_seconds": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}


_BATCH_DRIVER = """
import contextlib, io, json, sys
from scalesim.scale_sim import scalesim
for case in json.load(sys.stdin):
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=case["cfg"],
                       topology=case["topology"], layout=case["layout"],
                       input_type_gemm=case["gemm"])
        sim.run_scale(top_path=case["out"])
"""


def run_scalesim_batch(python: str, cases: list[dict], workdir: Path) -> list[dict]:
    """SCALE-Sim's library on many ``{"cfg", "topology", "gemm"}`` cases in one process (no
    traces): each case's reports (text), in order."""
    workdir.mkdir(parents=True, exist_ok=True)
    layout = workdir / "layout.csv"
    layout.write_text(LAYOUT_HEADER)
    jobs = [{"cfg": str(c["cfg"]), "topology": str(c["topology"]), "gemm": bool(c["gemm"]),
             "layout": str(layout), "out": str(workdir / f"case{i}")}
            for i, c in enumerate(cases)]
    done = subprocess.run([python, "-c", _BATCH_DRIVER], input=json.dumps(jobs), text=True,
                          capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(f"SCALE-Sim failed:\n{done.stderr[-3000:]}")
    return [_read_reports(next(p for p in Path(job["out"]).iterdir() if p.is_dir()))
            for job in jobs]


def accelsim_reports(cfg, topology, directory=None, seed: int = 0) -> dict[str, str]:
    """accelsim's reports (text) of a SCALE-Sim ``.cfg`` and topology, as ``accelsim run
    --scalesim-config CFG --workload TOPOLOGY --scalesim-reports DIR`` writes them: each row
    its own network, a row's N:M pruning its weights (and timing with SparsitySupport)."""
    import pandas as pd

    import accelsim
    from accelsim.scalesim.config import load_scalesim_workload, scalesim_arch
    from accelsim.scalesim.reports import write_reports
    from accelsim.sim.rows import topology_row
    from accelsim.workload import load_tensors

    arch = scalesim_arch(cfg)
    layers = []
    for network in load_scalesim_workload(topology):
        row_arch, tensors = topology_row(arch, network, load_tensors(network, seed))
        layers.append(accelsim.simulate(row_arch, network, seed=seed, tensors=tensors).layers)
    with tempfile.TemporaryDirectory() as scratch:
        paths = write_reports(pd.concat(layers, ignore_index=True), arch, directory or scratch)
        return {p.stem: p.read_text() for p in paths}


def _worker(runs: list[dict]) -> dict:
    """accelsim on every run, in this process (the ``--worker`` side)."""
    start = time.perf_counter()
    import resource

    import accelsim  # noqa: F401  (the import time is reported on its own)

    imported = time.perf_counter()
    accelsim_reports(REFERENCE / "os_user" / "scale.cfg", REFERENCE / "tiny.csv")   # numba
    warmed = time.perf_counter()
    results = []
    for run in runs:
        begin, begin_cpu = time.perf_counter(), time.process_time()
        reports = accelsim_reports(run["cfg"], run["topology"], run["reports"])
        results.append({"seconds": time.perf_counter() - begin,
                        "cpu_seconds": time.process_time() - begin_cpu, "reports": reports})
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


def _table(text: str) -> list[list[float | str]]:
    lines = [line for line in text.splitlines() if line.strip()][1:]
    return [[_cell(cell) for cell in line.split(",")[:-1]] for line in lines]


def _cell(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text.strip()


def compare_reports(ours: dict, theirs: dict) -> tuple[int, int, float, str]:
    """(cells compared, cells that differ, largest relative difference, where); -1 differing
    when a report or a row is missing on one side."""
    cells = differ = 0
    worst, where = 0.0, ""
    if sorted(ours) != sorted(theirs):
        return 0, -1, float("inf"), f"reports {sorted(ours)} vs {sorted(theirs)}"
    for name in theirs:
        mine, ref = _table(ours[name]), _table(theirs[name])
        if len(mine) != len(ref) or ours[name].split("\n")[0] != theirs[name].split("\n")[0]:
            return cells, -1, float("inf"), f"{name}: {len(mine)} vs {len(ref)} rows or header"
        for layer, (a_row, b_row) in enumerate(zip(mine, ref, strict=True)):
            for column, (a, b) in enumerate(zip(a_row, b_row, strict=True)):
                cells += 1
                if a != b:
                    differ += 1
                    gap = abs(a - b) / max(abs(b), 1e-300) if isinstance(b, float) and \
                        isinstance(a, float) else float("inf")
                    if gap > worst:
                        worst, where = gap, f"{name} layer {layer} column {column}"
    return cells, differ, worst, where


REFERENCE = ROOT / "tests" / "data" / "scalesim_reports"
# Cases of tests/test_systolic.py: a 16 x 12 array with 4 KB SRAMs and 7 words a cycle, so
# reads miss, sets roll over and drains stall; every dataflow in both bandwidth modes, a
# depthwise ("DP") layer, which SCALE-Sim splits into one layer per channel, and N:M rows
# with SCALE-Sim's sparsity on (SparseRep ellpack_block, csr, and ws's optimized mapping).
REFERENCE_CASES = [(f"{df}_{mode}", "tiny.csv", df, mode, None) for df in ("os", "ws", "is")
                   for mode in ("calc", "user")] + [
    ("depthwise_os_user", "depthwise.csv", "os", "user", None),
    ("sparse_ws_user", "sparse.csv", "ws", "user", {"rep": "ellpack_block"}),
    ("sparse_is_calc", "sparse.csv", "is", "calc", {"rep": "csr"}),
    ("sparse_ws_optimized_calc", "sparse.csv", "ws", "calc",
     {"rep": "ellpack_block", "optimized": True, "block": 4, "seed": 40})]
# A batch-1 fc layer whose weights (7168 x 1024: 7.34 M words) just overflow the filter SRAM
# of systolic_tpu's sizes (SCALE-Sim's google.cfg: 256 x 256 ws, 6144 / 6144 / 2048 KB,
# USER, 10 words a cycle): SCALE-Sim then fetches each weight about 4 times (issue 27).
FC_OVERFLOW_CASE = ("fc_overflow_ws_user", "fc_overflow.csv", "ws", "user", None)
ARRAYS = {FC_OVERFLOW_CASE[0]: {"rows": 256, "cols": 256, "sram_kb": 6144, "ofmap_kb": 2048,
                                "bandwidth": 10}}
SMALL_ARRAY = {"rows": 16, "cols": 12, "sram_kb": 4, "bandwidth": 7}


def write_reference(python: str, directory: Path, only: str | None = None) -> None:
    """SCALE-Sim's reports of :data:`REFERENCE_CASES` and :data:`FC_OVERFLOW_CASE` (or of the
    case named ``only``), each beside its ``scale.cfg``."""
    for case, topology, dataflow, mode, sparsity in [*REFERENCE_CASES, FC_OVERFLOW_CASE]:
        if only and case != only:
            continue
        target = directory / case
        target.mkdir(parents=True, exist_ok=True)
        cfg = write_cfg(target / "scale.cfg", name=case, dataflow=dataflow, mode=mode.upper(),
                        sparsity=sparsity, **ARRAYS.get(case, SMALL_ARRAY))
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalesim-python", help="interpreter that can import scalesim")
    parser.add_argument("--cases", default="resnet50,bert",
                        help="default cases to run: resnet50 (32x32 os), bert (128x128 os)")
    parser.add_argument("--topologies", help="instead, a grid: names in tests/data/scalesim "
                                             "or CSV paths, with --arrays and --dataflows")
    parser.add_argument("--arrays", default="32,128", help="grid: square array sizes")
    parser.add_argument("--dataflows", default="os,ws,is", help="grid: dataflows")
    parser.add_argument("--mode", default="calc", choices=("calc", "user"))
    parser.add_argument("--timeout", type=float, default=4 * 3600,
                        help="seconds SCALE-Sim may take per case (default 4 h)")
    parser.add_argument("--write-reference", type=Path, metavar="DIR",
                        help=f"store SCALE-Sim's reports of the test cases (in {REFERENCE})")
    parser.add_argument("--only", metavar="CASE",
                        help="with --write-reference: that case alone (e.g. "
                             f"{FC_OVERFLOW_CASE[0]})")
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
        write_reference(python, args.write_reference, args.only)
        return 0
    return compare_all(python, args)


def _runs(args, workdir: Path) -> list[dict]:
    """(label, cfg, topology, gemm) of every case asked for."""
    mode, runs = args.mode.upper(), []
    if args.topologies:
        for topology in args.topologies.split(","):
            path = Path(topology) if topology.endswith(".csv") else TOPOLOGIES / f"{topology}.csv"
            for size in (int(s) for s in args.arrays.split(",")):
                for dataflow in args.dataflows.split(","):
                    runs.append((f"{path.stem}_{size}x{size}_{dataflow}_{args.mode}", path, size,
                                 dataflow))
    else:
        cases = {"resnet50": (TOPOLOGIES / "resnet50.csv", 32),
                 "bert": (write_bert(workdir / "bert_base_encoder_seq512.csv"), 128)}
        runs = [(f"{name}_{cases[name][1]}x{cases[name][1]}_os_{args.mode}", *cases[name], "os")
                for name in args.cases.split(",")]
    out = []
    for label, path, size, dataflow in runs:
        cfg = write_cfg(workdir / f"{label}.cfg", name=label, rows=size, cols=size,
                        dataflow=dataflow, mode=mode)
        gemm = path.read_text().lstrip().lower().startswith("layer,")
        out.append({"label": label, "cfg": str(cfg), "topology": str(path), "gemm": gemm,
                    "reports": str(workdir / "accelsim" / label)})
    return out


def compare_all(python: str, args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vs_scalesim_"))
    runs = _runs(args, workdir)
    workers = [run_accelsim([run]) for run in runs]   # one process a case: its own peak RSS
    for run, worker in zip(runs, workers, strict=True):
        print(f"accelsim worker for {run['label']}: {worker['process_seconds']:.1f} s in all "
              f"(imports {worker['import_seconds']:.1f} s, numba warm-up "
              f"{worker['warmup_seconds']:.1f} s)", flush=True)
    head = (f"{'case':<26} {'layers':>6} {'cells':>7} {'differ':>6} {'SCALE-Sim s':>12} "
            f"{'accelsim s':>11} {'ratio':>7} {'CPU ratio':>9} {'SCALE-Sim MB':>13} "
            f"{'accelsim MB':>12}")
    print(head, flush=True)
    failed = 0
    for run, worker in zip(runs, workers, strict=True):
        mine, rss = worker["runs"][0], worker["max_rss_mb"]
        theirs = run_scalesim(python, Path(run["cfg"]), Path(run["topology"]),
                              workdir / run["label"], gemm=run["gemm"], timeout=args.timeout)
        layers = len(_table(mine["reports"]["COMPUTE_REPORT"]))
        if theirs["reports"] is None:
            print(f"{run['label']:<26} {layers:>6} {'-':>7} {'-':>6} "
                  f"{'>' + format(theirs['seconds'], '.0f'):>12} {mine['seconds']:>11.2f} "
                  f"{'>' + format(theirs['seconds'] / mine['seconds'], '.0f'):>7} {'-':>9} "
                  f"{theirs['max_rss_mb']:>13,.0f} {rss:>12,.0f}  "
                  f"(SCALE-Sim stopped after --timeout {args.timeout:.0f} s)", flush=True)
            failed += 1
            continue
        cells, differ, gap, where = compare_reports(mine["reports"], theirs["reports"])
        failed += differ != 0
        print(f"{run['label']:<26} {layers:>6} {cells:>7} {differ:>6} {theirs['seconds']:>12.1f} "
              f"{mine['seconds']:>11.2f} {theirs['seconds'] / mine['seconds']:>7.0f} "
              f"{theirs['cpu_seconds'] / mine['cpu_seconds']:>9.0f} "
              f"{theirs['max_rss_mb']:>13,.0f} {rss:>12,.0f}"
              + (f"  (largest difference {gap:.3g}: {where})" if differ else ""), flush=True)
        if args.keep_reports:
            for side, reports in (("accelsim", mine["reports"]), ("scalesim", theirs["reports"])):
                (args.keep_reports / run["label"] / side).mkdir(parents=True, exist_ok=True)
                for name, text in reports.items():
                    (args.keep_reports / run["label"] / side / f"{name}.csv").write_text(text)
    print("accelsim s: simulating (real values included) and writing the reports, after the "
          "warm-up; SCALE-Sim s: its whole process (traces included, as `python -m "
          "scalesim.scale` always writes them). CPU ratio: user + system seconds. MB: peak RSS "
          "of each simulator's process.")
    shutil.rmtree(workdir)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a sweep keeps its finished runs, and how they become its two tables.

:class:`RunStore` is a directory with one Parquet file per finished run, named by the run's
key (a hash of accelsim's code, the config, the workload and the seed): the layer rows,
with the run's status, error and summary as JSON in the file's schema metadata. A file is
written under a temporary name and renamed into place (``os.replace`` is atomic), so a
sweep killed at any instant, SIGKILL included, leaves complete files only; a rerun skips
the keys present and runs the rest. Runs that hit a bug (status ``error``) are not stored,
so a rerun retries them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from accelsim.sweep.executor import RunOutcome

_RECORD = b"accelsim.run"
_SUMMARY_DROPPED = ("network", "arch")   # the tables' own workload / arch columns say it


class RunStore:
    """Finished runs on disk, one atomic file each (see the module docstring)."""

    def __init__(self, directory: str | Path, restart: bool = False) -> None:
        self.directory = Path(directory)
        if restart and self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        for partial in self.directory.glob(".*.tmp"):   # a write cut short by a kill
            partial.unlink(missing_ok=True)
        self._keys = {path.stem for path in self.directory.glob("*.parquet")}
        self._errors: dict[str, RunOutcome] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def others(self, keys) -> int:
        """Stored runs whose key is not among ``keys``: runs of other grid values, or
        made by another accelsim version or source (its key includes the code's hash)."""
        return len(self._keys - set(keys))

    def put(self, outcome: RunOutcome) -> None:
        if outcome.status == "error":
            self._errors[outcome.key] = outcome
            return
        layers = outcome.layers if outcome.layers is not None else pd.DataFrame({"layer": []})
        table = pa.Table.from_pandas(layers, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), _RECORD: json.dumps(_record(outcome))}
        target = self.directory / f"{outcome.key}.parquet"
        partial = self.directory / f".{outcome.key}.{os.getpid()}.tmp"
        pq.write_table(table.replace_schema_metadata(metadata), partial)
        os.replace(partial, target)
        self._keys.add(outcome.key)

    def get(self, key: str) -> tuple[dict, pd.DataFrame | None]:
        if key in self._errors:
            return _record(self._errors[key]), None
        table = pq.read_table(self.directory / f"{key}.parquet")
        record = json.loads(table.schema.metadata[_RECORD])
        return record, table.to_pandas() if record["status"] == "ok" else None


class MemoryStore:
    """The same interface, in memory: a sweep without an output path."""

    def __init__(self) -> None:
        self._outcomes: dict[str, RunOutcome] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._outcomes

    def others(self, keys) -> int:
        return len(set(self._outcomes) - set(keys))

    def put(self, outcome: RunOutcome) -> None:
        self._outcomes[outcome.key] = outcome

    def get(self, key: str) -> tuple[dict, pd.DataFrame | None]:
        outcome = self._outcomes[key]
        return _record(outcome), outcome.layers


def _record(outcome: RunOutcome) -> dict:
    return {"status": outcome.status, "error": outcome.error, "summary": outcome.summary,
            "seconds": outcome.seconds, "counted": outcome.counted}


def assemble_tables(runs, store, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sweep's ``layers`` and ``points`` tables, in run order (point, then workload)."""
    frames, ids_of_runs, rows = [], [], []
    for run in runs:
        ids = {"point": run.point.index, "arch": run.point.base, "workload": run.workload,
               **run.point.settings}
        if run.task is None:
            record, layers = {"status": "failed", "error": run.point.error, "summary": {}}, None
        else:
            record, layers = store.get(run.key)
        summary = {k: v for k, v in record["summary"].items() if k not in _SUMMARY_DROPPED}
        rows.append({**ids, "status": record["status"], "error": record["error"], **summary})
        if layers is not None:
            ids_of_runs.append(ids)
            frames.append(pd.concat([pd.DataFrame({k: [v] * len(layers) for k, v in ids.items()}),
                                     layers.reset_index(drop=True)], axis=1))
    id_columns = ["point", "arch", "workload", *keys]
    layers = _concat_runs(frames, id_columns)
    points = pd.DataFrame(rows, columns=list(dict.fromkeys(k for row in rows for k in row)))
    return (_as_integers(layers, _integer_keys(ids_of_runs)),
            _as_integers(points, _integer_keys(rows)))


def _concat_runs(frames: list[pd.DataFrame], id_columns: list[str]) -> pd.DataFrame:
    """One table of every run's layers. A count column a run lacks (its core never counted
    that event) is 0 there, so integer columns stay integers, as in ``Result.layers``."""
    if not frames:
        return pd.DataFrame(columns=id_columns)
    integer = {c for f in frames for c in f.columns if pd.api.types.is_integer_dtype(f[c])}
    integer -= {c for f in frames for c in f.columns if not pd.api.types.is_integer_dtype(f[c])}
    table = pd.concat(frames, ignore_index=True)
    for column in integer - set(id_columns):
        table[column] = table[column].fillna(0).astype(np.int64)
    return table


def _integer_keys(records: list[dict]) -> set[str]:
    """Keys whose values are integers wherever they are given."""
    integer, other = set(), set()
    for record in records:
        for key, value in record.items():
            if _is_integer(value):
                integer.add(key)
            elif value is not None:
                other.add(key)
    return integer - other


def _as_integers(table: pd.DataFrame, columns: set[str]) -> pd.DataFrame:
    """Integer columns as int64, or nullable Int64 where some rows have none (a failed
    run's cycles, a config without the key), so a count never reads as a float."""
    for column in columns & set(table.columns):
        table[column] = table[column].astype("Int64" if table[column].isna().any()
                                             else np.int64)
    return table


def _is_integer(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def write_atomically(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet or CSV (by suffix) under a temporary name, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.suffix == ".csv":
        frame.to_csv(partial, index=False)
    else:
        frame.to_parquet(partial, index=False)
    os.replace(partial, path)
    return path

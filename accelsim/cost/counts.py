"""Raw event counts keyed by (component, action): the only thing energy is computed from.

Components use the paper's names (``nbin``, ``sb``, ``nfu``, ``dram``); actions come from a
small vocabulary (``ACTIONS``). Counts stay integers so energy can be re-priced from them
without re-simulating (see ``accelsim.cost.energy.price``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

ACTIONS = ("read", "write", "fill", "mac", "mac_skipped", "op", "hop", "read_byte",
           "write_byte")


class Counts(Counter):
    """A Counter of ``(component, action) -> int``; ``+`` merges layers."""

    def add(self, component: str, action: str, count: int) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        self[(component, action)] += int(count)

    def add_columns(self, names: Iterable[tuple[str, str]], totals: Iterable[int]) -> None:
        """Add kernel count columns (``names[i]`` is the (component, action) of column i)."""
        for (component, action), total in zip(names, totals, strict=True):
            if total:
                self.add(component, action, total)

    def get_count(self, component: str, action: str) -> int:
        return int(self.get((component, action), 0))

    def to_frame(self) -> pd.DataFrame:
        """Long table: component, action, count (sorted for stable output)."""
        rows = sorted((c, a, int(n)) for (c, a), n in self.items())
        return pd.DataFrame(rows, columns=["component", "action", "count"])

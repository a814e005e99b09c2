"""Progress of a long command on stderr: a tqdm bar on a terminal, elsewhere a line per
tenth of the steps (for callers that want a log) or nothing.

One helper serves ``accelsim run`` (layers), ``accelsim compare`` (runs) and sweeps (runs),
so all three behave alike and stdout carries only results whatever is shown here. The
environment variable ``ACCELSIM_PROGRESS`` (``bar``, ``log`` or ``off``) overrides the choice
made from stderr being a terminal; an explicit ``show`` (``--quiet``) overrides both.
Imports nothing of accelsim, so every room may use it without an import cycle.
"""

from __future__ import annotations

import os
import sys
import time

ENVIRONMENT = "ACCELSIM_PROGRESS"
MODES = ("bar", "log", "off")


def choose_mode(show: bool | None, log: bool = False) -> str:
    """``"bar"``, ``"log"`` or ``"off"``: ``show`` decides when given (False: quiet); else
    ``ACCELSIM_PROGRESS``; else a bar on a terminal and, in a log, lines only if ``log``."""
    if show is not None:
        return "bar" if show else "off"
    forced = os.environ.get(ENVIRONMENT, "").strip().lower()
    if forced in MODES:
        return forced
    if sys.stderr.isatty():
        return "bar"
    return "log" if log else "off"


class Progress:
    """``total`` steps of ``unit`` (``initial`` of them done before, e.g. stored runs), shown
    on stderr in ``mode`` (see :func:`choose_mode`). ``desc`` labels the bar and ``label``
    the log lines (default: ``desc``); ``leave`` keeps the finished bar on screen.

    As a context manager it closes the bar, and on a normal exit counts the step begun
    last (:meth:`begin` is for callbacks made *before* each step)."""

    def __init__(self, total: int, *, desc: str, unit: str, mode: str = "off",
                 label: str | None = None, initial: int = 0, leave: bool = True) -> None:
        self.total, self.initial, self.unit, self.mode = total, initial, unit, mode
        self.label = label or desc
        self.done, self.logged, self.status, self.running = initial, 0, "", False
        self.started = time.perf_counter()
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.05, leave=leave)

    def update(self, steps: int = 1, *, postfix: str | None = None,
               status: str | None = None) -> None:
        """``steps`` more done; ``postfix`` is shown on the bar (e.g. the step now running),
        ``status`` on every later log line (e.g. ``"2 failed"``)."""
        self.done += steps
        if status is not None:
            self.status = status
        if self.bar is not None:
            if postfix is not None:
                self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(steps)
        elif self.mode == "log" and steps:
            self._log()

    def begin(self, name: str) -> None:
        """Step ``name`` starts, so the one begun before it is done; the bar is redrawn at
        once, so it always names the step running (steps are slow, redraws cheap)."""
        self.update(1 if self.running else 0, postfix=name)
        self.running = True
        if self.bar is not None:
            self.bar.refresh()

    def finish(self) -> None:
        """The step begun last is done."""
        if self.running:
            self.running = False
            self.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.finish()
        self.close()

    def _log(self) -> None:
        """A line at every tenth of this invocation's steps and at the last one: done,
        rate and ETA (a log file or CI gets no bar's carriage returns)."""
        todo, ran = self.total - self.initial, self.done - self.initial
        if ran - self.logged < max(1, todo // 10) and ran != todo:
            return
        self.logged = ran
        seconds = time.perf_counter() - self.started
        rate = ran / seconds if seconds else 0.0
        eta = (todo - ran) / rate if rate else 0.0
        status = f", {self.status}" if self.status else ""
        print(f"{self.label}: {ran}/{todo} {self.unit}s{status}, {rate:.2f} {self.unit}s/s, "
              f"ETA {eta:.0f} s", file=sys.stderr, flush=True)

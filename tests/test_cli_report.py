"""The run summary's long lines: wrapped under their label on a terminal, whole elsewhere."""

import io

from accelsim import cli_report

TEXT = ", ".join(f"layer_{i} {i}.0/{i}.5" for i in range(40))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_long_line_wraps_under_its_label_on_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout", _Terminal())
    monkeypatch.setenv("COLUMNS", "72")
    lines = cli_report.format_provenance({"tensors": {"calibration": TEXT}}).splitlines()
    assert len(lines) > 1 and max(map(len, lines)) <= 72
    assert lines[0].startswith("  calibration ")
    assert all(line.startswith(" " * cli_report.LABEL) for line in lines[1:])
    assert " ".join(line.strip() for line in lines).removeprefix("calibration ") == TEXT


def test_a_long_line_stays_whole_in_a_pipe(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    monkeypatch.setenv("COLUMNS", "72")
    assert cli_report.format_provenance({"tensors": {"input": TEXT}}) == f"  input       {TEXT}"

"""docs/benchmarks.md is written by `make bench`, and what is written there by
hand (what the figures say, how they moved from run to run) outlives the run."""

from bench import report
from tests.conftest import REPO


def test_a_new_run_keeps_the_hand_written_part(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOCS", tmp_path)
    monkeypatch.setattr(report, "machine", lambda: {"cpu": "test"})
    hand = report.KEEP + "\n\n## What the figures say\n\n- the last run's words\n"
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n\nthe old run's tables\n\n" + hand)
    path = report.write([["local: small request", "-", "1 us", "baseline", "ok"]], {}, {}, "make bench")
    text = path.read_text()
    assert "the old run's tables" not in text and "1 us" in text
    assert text.endswith("\n" + hand) and text.count(report.KEEP) == 1


def test_a_first_run_writes_the_tables_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "DOCS", tmp_path)
    monkeypatch.setattr(report, "machine", lambda: {"cpu": "test"})
    text = report.write([], {}, {}, "make bench").read_text()
    assert text.startswith("# Benchmarks") and report.KEEP not in text


def test_the_report_in_the_tree_has_its_hand_written_part():
    assert report.KEEP in (REPO / "docs" / "benchmarks.md").read_text()

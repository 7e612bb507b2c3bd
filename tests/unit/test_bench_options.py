"""`manage.py bench` options: argument errors, the missing DBOS venv (exit 2 with the recipe, nothing installed),
the direction-aware ratio against the peer, the peer's summary lines, and the docs/scaling.md tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.benchmarks import peer, scale

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, message", [
    (["--only", "W9"], "--only takes"),
    (["--reps", "0"], "--reps and --ui-runs at least 1"),
    (["--scale-factor", "0"], "--scale-factor"),
    (["--scale-workers", "1,x"], "--scale-workers"),
    (["--scale-workers", "0"], "--scale-workers"),
    (["--scale-parts", "trees,moon"], "--scale-parts"),
    (["--database-url", "sqlite:///x"], "PostgreSQL"),
])
def test_bad_arguments_are_refused_before_anything_runs(argv: list[str], message: str) -> None:
    # A database nothing listens on: reaching it would fail differently (the last --database-url wins).
    with pytest.raises(CommandError, match=message):
        call_command("bench", "--database-url", "postgres://root@127.0.0.1:1/never", *argv)


def test_peer_choice_is_checked_by_the_parser() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("bench", "--peer", "temporal")


def test_a_missing_peer_venv_exits_2_with_how_to_make_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-venv" / "bin" / "python"
    with pytest.raises(CommandError) as raised:
        call_command("bench", "--peer", "dbos", "--peer-python", str(missing),
                     "--database-url", "postgres://root@127.0.0.1:1/never")
    assert raised.value.returncode == 2
    assert "pip install dbos==3.4.0" in str(raised.value) and str(missing) in str(raised.value)
    assert not missing.exists()  # nothing was made
    # The same through manage.py: exit status 2, the recipe on stderr, before any database is touched.
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "bench", "--peer", "dbos", "--peer-python",
                           str(missing), "--database-url", "postgres://root@127.0.0.1:1/never"],
                          capture_output=True, text=True, cwd=ROOT, env=os.environ.copy(), timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "python3 -m venv ~/dbos-venv" in done.stderr


def test_a_missing_peer_script_is_named(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    with pytest.raises(peer.PeerMissing, match="dbos_bench.py"):
        peer.resolve(python=str(python), script=tmp_path / "dbos_bench.py", url=None)
    script = tmp_path / "dbos_bench.py"
    script.write_text("")
    setup = peer.resolve(python=str(python), script=script, url="postgresql://x/y")
    assert setup.python == python and setup.url == "postgresql://x/y"


def test_ratio_is_times_better_whichever_way_the_metric_points() -> None:
    assert peer.ratio(5.0, 10.0, lower_is_better=True) == 2.0  # half the ms per hop: twice as fast
    assert peer.ratio(450.0, 100.0, lower_is_better=False) == 4.5  # 4.5x the children per second
    assert peer.ratio(20.0, 10.0, lower_is_better=True) == 0.5
    with pytest.raises(ValueError):
        peer.ratio(0.0, 10.0, lower_is_better=True)


def test_compare_pairs_medians_and_checks_the_targets() -> None:
    stdout = "\n".join([
        "some DBOS log line",
        json.dumps({"workload": "W1_chain", "wall_s": 0.5, "ms_per_hop": 10.0}),
        json.dumps({"summary": "W1_chain", "wall_s_min_med_max": [0.4, 0.5, 0.6], "metric_min_med_max": [8, 10, 12]}),
        json.dumps({"summary": "W2_fanout", "wall_s_min_med_max": [2, 2, 2], "metric_min_med_max": [60, 80, 90]}),
        json.dumps({"summary": "W3_queue", "wall_s_min_med_max": [1, 1, 1], "metric_min_med_max": [1, 1, 1]}),
    ])
    theirs = peer.parse_summaries(stdout)
    assert set(theirs) == {"W1", "W2"}
    ours = {"W1": {"ms_per_hop": 4.0}, "W2": {"children_per_s": 320.0}, "W3": {"runs_per_s": 500.0}}
    rows = {row["compare"]: row for row in peer.compare(ours, theirs)}
    assert set(rows) == {"W1", "W2"}  # W3: the peer did not measure it
    assert rows["W1"]["ratio"] == 2.5 and rows["W1"]["meets_target"] is True and rows["W1"]["dbos"] == 10
    assert rows["W2"]["ratio"] == 4.0 and rows["W2"]["meets_target"] is False  # the target is 4.5x
    counts = {"W1": {"statements_per_unit": 7.0, "commits_per_unit": 2.0, "unit": "hop"}}
    text = peer.table(list(rows.values()), counts)
    assert "7.0 / 2.0 per hop" in text and "2.50x" in text
    table = peer.markdown(list(rows.values()), counts)
    assert "| W2 children_per_s (higher is better) | 320.0 | 80.0 | 4.0x | 4.5x (missed) | - |" in table


def test_scaling_tables_replace_the_marked_section_only(tmp_path: Path) -> None:
    report = {"factor": 0.1, "sizes": scale.Sizes.scaled(0.1), "throughput": [
        {"scale": "W3", "workers": 2, "runs_per_s": 600.0, "per_process": 300.0, "db_cpu_cores": 0.8,
         "machine_busy_pct": 97.0, "top_waits": {"CPU": 0.5, "IO:WALSync": 0.25}}],
        "big": [{"scale": "cancel tree", "n": 10000, "wall_s": 12.0, "per_s": 833.3, "longest_transaction_s": 0.4}]}
    tables = scale.markdown(report)
    assert "| W3 (runs/s) | 2 | 600.0 | 300.0 | 0.8 | 97.0% | CPU 50%, IO:WALSync 25% |" in tables
    assert "| cancel tree | 10000 | 12.0 | 833.3 | no worker | 0.4 |" in tables
    doc = tmp_path / "scaling.md"
    doc.write_text(f"# Scaling\n\nbefore\n{scale.BEGIN}\nold\n{scale.END}\nafter\n")
    scale.write_doc(doc, tables)
    text = doc.read_text()
    assert "old" not in text and text.startswith("# Scaling\n\nbefore\n") and text.endswith("after\n")
    assert text.count(scale.BEGIN) == 1 and "600.0" in text
    assert scale.Sizes.scaled(1.0).fanout == 10_000 and scale.Sizes.scaled(0.0001).chain == 10

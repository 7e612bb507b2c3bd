"""The DBOS peer benchmark (`manage.py bench --peer dbos`): run ../shared/peers/dbos_bench.py in its own venv,
in the same process tree right after our workloads, and put each of W1/W2/W3 beside ours with a ratio.

Nothing is installed here: a missing venv or script is a `PeerMissing` whose message says how to make it.
The ratio is direction-aware so that it always reads "times better than the peer": W1 is a latency (ms per hop,
lower is better: peer / ours), W2 and W3 are throughputs (higher is better: ours / peer).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PYTHON = "~/dbos-venv/bin/python"
DEFAULT_URL = "postgresql://root@127.0.0.1:5432/dbos_bench"
PEERS = ("dbos",)

# Our workload -> (the peer's summary name, our metric, lower is better, the target ratio).
COMPARED: dict[str, tuple[str, str, bool, float]] = {
    "W1": ("W1_chain", "ms_per_hop", True, 2.0),
    "W2": ("W2_fanout", "children_per_s", False, 4.5),
    "W3": ("W3_start_workflow", "runs_per_s", False, 3.5),
}


class PeerMissing(RuntimeError):
    """The peer's venv or script is not there (the message says how to make it)."""


class PeerFailed(RuntimeError):
    """The peer benchmark ran and failed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSetup:
    python: Path
    script: Path
    url: str


def default_script(base_dir: Path) -> Path:
    """Next to the checkout, as the lead's layout has it (/work/main -> /work/shared/peers/dbos_bench.py)."""
    return Path(os.environ.get("BENCH_DBOS_SCRIPT") or base_dir.parent / "shared" / "peers" / "dbos_bench.py")


def resolve(*, python: str | None, script: Path, url: str | None) -> PeerSetup:
    """The peer's interpreter and script, checked to exist; PeerMissing (with the recipe) if not."""
    interpreter = Path(os.path.expanduser(python or os.environ.get("BENCH_DBOS_PYTHON") or DEFAULT_PYTHON))
    if not script.is_file():
        raise PeerMissing(f"the DBOS peer benchmark {script} is missing; pass --peer-script "
                          "(or set BENCH_DBOS_SCRIPT) to dbos_bench.py")
    if not (interpreter.is_file() and os.access(interpreter, os.X_OK)):
        raise PeerMissing(
            f"no DBOS venv at {interpreter}; make it (nothing is installed by the bench), then pass its python "
            "with --peer-python:\n"
            "    python3 -m venv ~/dbos-venv && ~/dbos-venv/bin/pip install dbos==3.4.0\n"
            "    createdb dbos_bench   # or --peer-url postgresql://.../<another database>")
    return PeerSetup(python=interpreter, script=script,
                     url=url or os.environ.get("BENCH_DBOS_URL") or DEFAULT_URL)


def run_peer(setup: PeerSetup, *, names: list[str], reps: int, timeout: float) -> dict[str, dict[str, Any]]:
    """Run the peer's workloads matching `names` (W1/W2/W3); returns its summary lines by our workload name."""
    wanted = [name for name in names if name in COMPARED]
    if not wanted:
        return {}
    argv = [str(setup.python), str(setup.script), "--reps", str(reps),
            "--only", ",".join(name.lower() for name in wanted)]
    try:
        done = subprocess.run(argv, env={**os.environ, "DBOS_URL": setup.url}, capture_output=True, text=True,
                              timeout=timeout * reps * len(wanted) + 120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PeerFailed(f"the DBOS peer benchmark did not finish in {exc.timeout:.0f} s") from exc
    if done.returncode != 0:
        raise PeerFailed(f"the DBOS peer benchmark exited with code {done.returncode}: {done.stderr[-2000:]}")
    return parse_summaries(done.stdout)


def parse_summaries(stdout: str) -> dict[str, dict[str, Any]]:
    """dbos_bench.py's `{"summary": ..., "metric_min_med_max": [...]}` lines, by our workload name."""
    by_peer_name = {peer: ours for ours, (peer, *_rest) in COMPARED.items()}
    found: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # DBOS's own log lines
        if isinstance(row, dict) and row.get("summary") in by_peer_name:
            found[by_peer_name[row["summary"]]] = row
    return found


def ratio(ours: float, peer: float, *, lower_is_better: bool) -> float:
    """How many times better than the peer we are (> 1: better), whichever way the metric points."""
    if ours <= 0 or peer <= 0:
        raise ValueError(f"a benchmark metric must be positive (ours {ours}, peer {peer})")
    return peer / ours if lower_is_better else ours / peer


def compare(ours: dict[str, dict[str, Any]], peer: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One comparison row per workload both sides measured: medians, the ratio and whether it meets the target."""
    rows = []
    for name, (_peer_name, metric, lower, target) in COMPARED.items():
        if name not in ours or name not in peer:
            continue
        mine, theirs = float(ours[name][metric]), float(peer[name]["metric_min_med_max"][1])
        times = ratio(mine, theirs, lower_is_better=lower)
        rows.append({"compare": name, "peer": "dbos", "metric": metric, "lower_is_better": lower,
                     "ours": round(mine, 3), "dbos": round(theirs, 3), "ratio": round(times, 2),
                     "target": target, "meets_target": times >= target})
    return rows


def table(rows: list[dict[str, Any]], counts: dict[str, dict[str, Any]]) -> str:
    """The comparison as a short text table (stderr), statements and commits per unit beside it when counted."""
    lines = [f"{'workload':<9}{'metric':<16}{'ours':>10}{'dbos':>10}{'ratio':>8}{'target':>8}  stmts/commits per unit"]
    for row in rows:
        count = counts.get(row["compare"])
        per = f"{count['statements_per_unit']:.1f} / {count['commits_per_unit']:.1f} per {count['unit']}" \
            if count else "-"
        lines.append(f"{row['compare']:<9}{row['metric']:<16}{row['ours']:>10.2f}{row['dbos']:>10.2f}"
                     f"{row['ratio']:>7.2f}x{row['target']:>7.1f}x  {per}")
    return "\n".join(lines)


BEGIN, END = "<!-- peer:begin -->", "<!-- peer:end -->"


def markdown(rows: list[dict[str, Any]], counts: dict[str, dict[str, Any]]) -> str:
    """The comparison as docs/scaling.md's table, between the peer markers."""
    lines = [BEGIN, "| workload | ours | DBOS | ratio (times better) | target | our statements / commits per unit |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        count = counts.get(row["compare"])
        per = f"{count['statements_per_unit']:.1f} / {count['commits_per_unit']:.1f} per {count['unit']}" \
            if count else "-"
        lines.append(f"| {row['compare']} {row['metric']} ({'lower' if row['lower_is_better'] else 'higher'} is "
                     f"better) | {row['ours']} | {row['dbos']} | {row['ratio']}x | {row['target']}x "
                     f"({'met' if row['meets_target'] else 'missed'}) | {per} |")
    lines.append(END)
    return "\n".join(lines) + "\n"

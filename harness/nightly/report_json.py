"""`report.json`: the run as data, in the shape `schema.json` (shipped beside this module) fixes.

`build` makes the report from what the run left on disk (state, claims, time series), so the
same run always gives the same report, and a report can be rebuilt after the fact. `write`
validates it against the schema (when the `jsonschema` package is installed) and writes it
atomically; it returns the schema violations, which the runner reports as a harness error.

Exit status in the report: 2 if the harness failed (an error was recorded, or a corpus file is
malformed), else 1 if there is any finding, else 0.
"""

from __future__ import annotations

import json
import os
import platform
from collections import defaultdict
from functools import cache
from pathlib import Path

from harness.findings import replay_command, write_atomically
from harness.nightly.board import KINDS, Claim
from harness.nightly.corpus import STATUSES
from harness.nightly.layout import RunDir
from harness.nightly.state import RunState
from harness.replay import MALFORMED

FORMAT, VERSION = "poolfuzz-nightly-report", 1
SCHEMA_PATH = Path(__file__).with_name("schema.json")


@cache
def schema() -> dict:
    """The JSON schema every report satisfies."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def build(run: RunDir, state: RunState, claims: list[Claim], samples: list[dict]) -> dict:
    """The report of `run` (see the module docstring)."""
    consumed = max(state.consumed, 1e-9)
    corpus = corpus_section(state)
    errors = list(state.errors)
    report = {
        "format": FORMAT,
        "version": VERSION,
        "run": {"id": state.run_id, "folder": str(run.root), "created": state.created, "status": state.status,
                "sessions": state.sessions},
        "settings": {"engine": state.engine, "profile": state.profile, "database": state.database,
                     "targets": state.targets, "workers": state.workers, "corpus": state.corpus,
                     "hang_timeout": state.hang_timeout, "rss_limit_mb": state.rss_limit_mb},
        "budget": {"seconds": state.budget, "consumed": round(state.consumed, 3)},
        "host": {"cpus": os.cpu_count() or 1, "python": platform.python_version(), "platform": platform.platform()},
        "execs": {"sequences": state.totals["sequences"], "ops": state.totals["ops"],
                  "sequences_per_s": round(state.totals["sequences"] / consumed, 2),
                  "ops_per_s": round(state.totals["ops"] / consumed, 1)},
        "coverage": coverage_section(state),
        "series": series_section(samples),
        "findings": [finding_entry(run, state, claim) for claim in claims],
        "faults_by_op_kind": faults_by_op_kind(state, claims),
        "deaths": state.deaths,
        "resources": resources_section(samples),
        "corpus": corpus,
        "errors": errors,
    }
    harness_failed = bool(errors) or corpus["counts"][MALFORMED] > 0
    report["exit_status"] = 2 if harness_failed else (1 if claims else 0)
    return report


def coverage_section(state: RunState) -> dict:
    if state.coverage is not None:
        return {"kind": "engine", "final": state.coverage, "features": state.features}
    return {"kind": "behaviour-features", "final": len(state.features), "features": state.features}


RATE_WINDOW = 5
"""Throughput at a sample is measured over the last `RATE_WINDOW` intervals (a moving average:
workers publish their counters once a second, so single intervals are jagged)."""


def series_section(samples: list[dict]) -> list[dict]:
    """Samples with the throughput up to each (`ops_per_s`, None for the first)."""
    out = []
    for i, sample in enumerate(samples):
        rate = None
        if i:
            earlier = samples[max(0, i - RATE_WINDOW)]
            span = sample["t"] - earlier["t"]
            if span > 1e-6 and sample["ops"] >= earlier["ops"]:
                rate = round((sample["ops"] - earlier["ops"]) / span, 1)
        out.append({"t": sample["t"], "sequences": sample["sequences"], "ops": sample["ops"], "ops_per_s": rate,
                    "features": sample["features"], "coverage": sample.get("coverage"), "findings": sample["findings"]})
    return out


def finding_entry(run: RunDir, state: RunState, claim: Claim) -> dict:
    path = run.root / claim.path if claim.path else None
    try:
        reproducer = path.read_text(encoding="utf-8") if path is not None else claim.raw
    except FileNotFoundError:
        reproducer = claim.raw
    return {
        "key": claim.key, "target": claim.target, "signature": claim.signature, "kind": claim.kind,
        "cause": claim.cause, "op_kind": claim.op_kind, "observable": claim.observable, "last_op": claim.last_op,
        "seconds": claim.seconds, "source": claim.source, "status": claim.status,
        "path": str(path) if path is not None else None, "ops": claim.ops, "raw_ops": claim.raw_ops,
        "minimized": claim.minimized, "description": claim.description, "detail": claim.detail, "stack": claim.stack,
        "detections": max(state.hits.get(claim.key, 0), 1), "reproducer": reproducer,
        "replay": replay_command(path, claim.target, None) if path is not None else None,
    }


def faults_by_op_kind(state: RunState, claims: list[Claim]) -> dict[str, dict[str, int]]:
    """Detections (duplicates included) per op kind, split by finding kind."""
    table: dict[str, dict[str, int]] = defaultdict(lambda: {kind: 0 for kind in KINDS})
    for claim in claims:
        table[claim.op_kind or "none"][claim.kind] += max(state.hits.get(claim.key, 0), 1)
    return dict(sorted(table.items()))


def resources_section(samples: list[dict]) -> dict:
    rows = [{"t": s["t"], "processes": s.get("processes", [])} for s in samples]
    every = [p for row in rows for p in row["processes"]]
    peak = {name: max((p[name] for p in every), default=0) for name in ("rss", "fds", "maps")}
    return {"samples": rows, "peak": peak}


def corpus_section(state: RunState) -> dict:
    results = state.corpus_results or []
    counts = {status: sum(r["status"] == status for r in results) for status in STATUSES}
    problems = [r for r in results if r["status"] not in ("passed", "documented", "skipped")]
    return {"folder": state.corpus, "complete": state.corpus_results is not None, "counts": counts, "problems": problems}


def validate(report: dict) -> list[str]:
    """Schema violations of `report` (none when valid; none checked without `jsonschema`)."""
    try:
        import jsonschema
    except ImportError:
        return []
    validator = jsonschema.Draft202012Validator(schema())
    return [f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
            for error in sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))]


def write(report: dict, path: Path) -> list[str]:
    """Validate and write `report` atomically; the schema violations (the file is written anyway)."""
    problems = validate(report)
    write_atomically(path, json.dumps(report, indent=1) + "\n")
    return problems

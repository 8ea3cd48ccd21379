"""What a nightly run prints: a status line while it runs, one screen (at most 24 lines) at the end."""

from __future__ import annotations

from harness.nightly.layout import RunDir
from harness.nightly.state import RunState
from harness.nightly.svg import duration, mebibytes, number

MAX_FINDINGS_LISTED = 8
EXIT_MEANING = {0: "clean", 1: "findings", 2: "harness error"}


def status_line(state: RunState, totals: dict, findings: int, clock: float) -> str:
    rate = totals["ops"] / clock if clock > 0 else 0.0
    return (f"[nightly {state.run_id}] {duration(clock)}/{duration(state.budget)}  {number(totals['sequences'])} sequences  "
            f"{number(totals['ops'])} ops ({number(rate)}/s)  {totals['features']} features  {findings} findings")


def render(report: dict, run: RunDir) -> str:
    """The end-of-run summary (see the module docstring)."""
    settings, budget, execs, corpus = report["settings"], report["budget"], report["execs"], report["corpus"]
    findings, status = report["findings"], report["exit_status"]
    sessions = len(report["run"]["sessions"])
    lines = [
        f"poolfuzz nightly {report['run']['id']}: {report['run']['status']}",
        f"  time      {duration(budget['consumed'])} of {duration(budget['seconds'])}"
        f"{f' in {sessions} sessions' if sessions > 1 else ''}; {settings['workers']} workers ({settings['engine']}) "
        f"on {', '.join(settings['targets'])}",
        f"  executed  {number(execs['sequences'])} sequences, {number(execs['ops'])} ops "
        f"({number(execs['ops_per_s'])} ops/s); coverage {report['coverage']['final']} ({report['coverage']['kind']})",
        "  corpus    " + ", ".join(f"{n} {s}" for s, n in corpus["counts"].items())
        + ("" if corpus["complete"] else " (not complete)"),
        f"  findings  {len(findings)}" + (": " + ", ".join(f"{n} {k}" for k, n in _kinds(findings).items()) if findings else ""),
    ]
    for finding in findings[:MAX_FINDINGS_LISTED]:
        size = f"{finding['ops']} ops" if finding["ops"] is not None else "?"
        flag = "" if finding["minimized"] else ", not minimized"
        lines.append(f"    {finding['signature']} on {finding['target']} at {duration(finding['seconds'])} ({size}{flag}): "
                     f"{finding['path'] or '(not saved)'}")
    if len(findings) > MAX_FINDINGS_LISTED:
        lines.append(f"    ... and {len(findings) - MAX_FINDINGS_LISTED} more (see the report)")
    peak = report["resources"]["peak"]
    lines.append(f"  workers   {len(report['deaths'])} deaths; peak {mebibytes(peak['rss'])} resident, "
                 f"{peak['fds']} fds, {peak['maps']} mappings")
    if report["errors"]:
        lines.append(f"  errors    {len(report['errors'])}: {report['errors'][0]['message'].splitlines()[0][:100]}")
    lines.append(f"  report    {run.report_html}  ({run.report_json.name} beside it)")
    if report["run"]["status"] == "interrupted":
        lines.append(f"  resume    poolfuzz nightly --resume {run.root}")
    lines.append(f"exit {status}: {EXIT_MEANING[status]}")
    return "\n".join(lines)


def _kinds(findings: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding["kind"]] = counts.get(finding["kind"], 0) + 1
    return counts

"""The engines a nightly worker can run, behind one calling convention.

    engine(campaign, target_name, options, on_progress) -> None

runs until `campaign.remaining` is spent, reporting into `campaign` (a `worker.SharedCampaign`):
counters in `sequences`/`ops`, each divergence through `campaign.knows(signature)` — which
claims it for the whole run — and, if `knows` answers False, by saving it itself and appending a
`Finding`. An engine may tell the campaign where a signature's divergence is
(`campaign.divergence_of`, so that its raw reproducer goes into the claim and triage minimizes it
in isolation) and what coverage it reached (`campaign.coverage_of`).

Adding an engine is adding one function to `ENGINES`. A run names one engine or several
(`engine_names("hypothesis,atheris")`); its worker slots take them in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.divergence import Divergence
from harness.errors import InvalidProgram, suggest
from harness.targets import make_target


@dataclass(frozen=True)
class EngineOptions:
    profile: str = "nightly"  # Hypothesis settings profile
    database: str | None = None  # Hypothesis example database: a folder, redis://..., or "none"
    corpus: str | None = None  # the folder of `.ops` files the soak engine replays
    slot: int = 0  # the worker's slot (the soak engine starts its round at file `slot`)


Engine = Callable[[Any, str, EngineOptions, Callable[[Any], None]], None]


def hypothesis(campaign: Any, target_name: str, options: EngineOptions, on_progress: Callable[[Any], None]) -> None:
    """The Hypothesis state machine (`harness.engines.hypothesis_engine.fuzz`), never stopping at
    a finding; divergences are handed to triage with their reproducers."""
    from harness import machine
    from harness.engines import hypothesis_engine

    campaign.divergence_of = machine.FOUND.get
    db = hypothesis_engine.database(options.database, options.profile)
    hypothesis_engine.fuzz(campaign, lambda: make_target(target_name), options.profile, db,
                           keep_going=True, on_progress=on_progress)


def atheris(campaign: Any, target_name: str, options: EngineOptions, on_progress: Callable[[Any], None]) -> None:
    """libFuzzer through atheris (`harness.engines.atheris_engine.fuzz`): its own child
    processes run the inputs and save what they find; coverage is libFuzzer's `cov`."""
    from harness.engines import atheris_engine

    status = atheris_engine.FuzzerStatus()
    campaign.coverage_of = lambda: status.coverage or None
    atheris_engine.fuzz(campaign, target_name, None, on_progress=on_progress, status=status, keep_going=True)


def soak(campaign: Any, target_name: str, options: EngineOptions, on_progress: Callable[[Any], None]) -> None:
    """The corpus replayed in a loop, each file on a fresh target, until the budget ends: a soak
    test, for failures that come and go and for resources that leak over hours. The worker of
    slot i starts its rounds at file i, so workers do not run in lockstep. Malformed files are
    skipped (the corpus replay that opens the run reports them)."""
    from harness.executor import run
    from harness.nightly.corpus import corpus_files
    from harness.text import parse_file

    programs = []
    for path in corpus_files(Path(options.corpus) if options.corpus else None):
        try:
            programs.append(parse_file(path))
        except InvalidProgram:
            continue
    if not programs:
        raise ValueError(f"the soak engine needs .ops files to replay; there are none under {options.corpus}")
    start = options.slot % len(programs)
    programs = programs[start:] + programs[:start]
    found: dict[str, Divergence] = {}
    campaign.divergence_of = found.get
    while campaign.remaining > 0 and programs:
        for program in list(programs):
            try:
                outcome = run(program, make_target(target_name))
            except InvalidProgram:  # misuses a name once run: the corpus replay reports it
                programs.remove(program)
                continue
            campaign.sequences += 1
            campaign.ops += outcome.ops
            if outcome.divergence is not None:
                found[outcome.divergence.signature] = outcome.divergence
                campaign.knows(outcome.divergence.signature)
        on_progress(campaign)


ENGINES: dict[str, Engine] = {"hypothesis": hypothesis, "atheris": atheris, "soak": soak}


DEFAULT_ENGINES = "hypothesis,atheris"


def engine_named(name: str) -> Engine:
    """The engine called `name`; ValueError naming the choices."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}{suggest(name, ENGINES)}; available: {', '.join(ENGINES)}")
    return ENGINES[name]


def engine_names(text: str) -> list[str]:
    """The engines of a comma-separated list (`hypothesis,atheris`), each known and named once;
    ValueError naming the culprit. An engine whose package is missing is an error here, before
    the run starts, rather than a worker that dies at once."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise ValueError(f"bad engine list {text!r}: write names separated by commas, e.g. {DEFAULT_ENGINES}")
    for name in names:
        engine_named(name)
        if names.count(name) > 1:
            raise ValueError(f"engine {name!r} is named twice in {text!r}")
    if "atheris" in names:
        from harness.engines.atheris_engine import AtherisMissing, require_atheris

        try:
            require_atheris()
        except AtherisMissing as err:
            raise ValueError(f"{err}; or leave it out: --engine hypothesis") from None
    return names

"""The Hypothesis engine: the state machine (`harness.machine`) run in chunks until the budget
ends, with settings profiles and an example database.

Profiles (`PROFILES`): `dev` (interactive, small chunks), `ci` (chunks from fixed seeds, no database —
a CI run is reproducible), `nightly` (long sequences). The database is a folder in the project by
default (`.hypothesis/poolfuzz`), any folder named, or a Redis server (`redis://host:port/db`)
shared by many machines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.stateful import get_state_machine_test

from harness import machine
from harness.campaign import Campaign, record
from harness.targets import Target

PROFILES: dict[str, dict[str, object]] = {
    "dev": {"max_examples": 20, "stateful_step_count": 40},
    "ci": {"max_examples": 20, "stateful_step_count": 30},
    "nightly": {"max_examples": 200, "stateful_step_count": 100},
}
SEEDED = {"ci"}
"""Profiles whose chunks run from fixed seeds (0, 1, 2, ...): the same campaign every time.
(Hypothesis' own `derandomize` would run the *same* examples in every chunk.) Hypothesis keeps
no examples in a database for a seeded run, so these profiles use none."""
DEFAULT_DATABASE = Path(".hypothesis/poolfuzz")


def database(spec: str | None, profile: str) -> ExampleDatabase | None:
    """The example database a `--database` value names (None: the profile's default)."""
    if spec == "none" or (spec is None and profile == "ci"):
        return None
    if spec is not None and spec.startswith("redis://"):
        import redis  # an optional dependency: pip install 'poolfuzz[fuzz]'
        from hypothesis.extra.redis import RedisExampleDatabase

        return RedisExampleDatabase(redis.Redis.from_url(spec), key_prefix=b"poolfuzz:")
    return DirectoryBasedExampleDatabase(str(spec or DEFAULT_DATABASE))


def chunk_settings(profile: str, db: ExampleDatabase | None) -> settings:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    return settings(
        deadline=None,
        database=db,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        # No Hypothesis shrinking: each shrink step replays a real pool, and it can run for
        # minutes. A failure is shrunk by `harness.minimize` instead (bounded, deterministic).
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
        **PROFILES[profile],  # type: ignore[arg-type]
    )


def fuzz(
    campaign: Campaign,
    make_target: Callable[[], Target],
    profile: str = "dev",
    db: ExampleDatabase | None = None,
    keep_going: bool = False,
    on_progress: Callable[[Campaign], None] = lambda c: None,
) -> Campaign:
    """Run the state machine until the budget ends (or the first finding, unless `keep_going`)."""
    machine_class = machine.machine_for(make_target)
    options = chunk_settings(profile, db)
    chunk = 0
    while campaign.remaining > 0:
        machine.FOUND.clear()
        before = dict(machine.STATS)
        test = get_state_machine_test(machine_class, settings=options)
        if profile in SEEDED:
            test = seed(chunk)(test)
        chunk += 1
        try:
            test()
        except Exception:  # DivergenceFound, or a group of them when several failures were seen
            if not machine.FOUND:
                raise  # not a divergence: a bug in poolfuzz itself, reported as such

        campaign.sequences += machine.STATS["sequences"] - before["sequences"]
        campaign.ops += machine.STATS["ops"] - before["ops"]
        for signature, divergence in machine.FOUND.items():
            if not campaign.knows(signature):
                record(campaign, divergence, make_target)
        on_progress(campaign)
        if campaign.findings and not keep_going:
            break
        if keep_going and campaign.findings:
            options = chunk_settings(profile, None)  # the database would only replay them
    return campaign

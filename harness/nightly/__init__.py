"""The nightly campaign runner: `poolfuzz nightly`.

    from harness.nightly import nightly
    result = nightly(budget=8 * 3600, workers=os.cpu_count(), targets=["reference"], out=Path("reports"))

Modules, from the top down:

| module          | what it does                                                              |
|-----------------|---------------------------------------------------------------------------|
| `command`       | the command line (`add_arguments`, `run`)                                 |
| `runner`        | the supervisor: corpus replay, workers, triage, report                    |
| `workforce`     | the worker slots: start, watch (hangs, memory), replace                   |
| `books`         | the supervisor's accounting: clock, counters, state writes, samples       |
| `worker`        | one engine on one target in its own process (`SharedCampaign`)            |
| `engines`       | the engines a worker can run (hypothesis, atheris, soak), one convention  |
| `flight`        | the flight recorder: each op on disk before it runs                       |
| `deaths`        | what a worker's end means: nothing, a finding, or a harness error         |
| `triage`        | minimization in isolated children, saving of reproducers                  |
| `isolate`       | one program run in a forked child, with timeout and memory limit          |
| `corpus`        | the corpus replay, each file in a forked child                            |
| `board`         | the claims: one file per distinct finding, shared by every process        |
| `state`         | the run's state (budget accounting across resumes) and time series        |
| `sampler`       | resource use of the processes (psutil)                                    |
| `report_json`, `schema.json`, `report_html`, `svg`, `summary` | the reports               |
| `layout`, `proc` | the run folder's paths; process helpers                                  |
"""

__all__ = ["NightlyResult", "nightly"]


def __getattr__(name: str) -> object:
    """`nightly` and `NightlyResult`, imported on first use: the worker and triage processes,
    which run modules of this package with `python -m`, do not load the supervisor."""
    if name in __all__:
        from harness.nightly import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Concurrent and long-running checks of the pooling allocators.

| module | what |
|---|---|
| `workload` | the isolation workload: many threads per pool churn instances, each checking it sees only its own image and cookies (reference allocator and Wasmtime, through `tenants`) |
| `lincheck` | linearizability trials: threads on one pool and one shared memory, histories recorded and checked |
| `history`, `models`, `linearizability` | histories with invocation and response times, sequential models, the Wing–Gong–Lowe checker (partitioned per object) |
| `timeline` | an HTML/SVG timeline of a history, for a violation report |
| `faultinject` | every n-th `mmap`/`mprotect`/`madvise`/`memfd_create`/`ftruncate` of a sequence fails; the pool must stay sound |
| `soak` | a random workload for a long time, sampled for growth and leftovers, with a plot |
| `mutants` | seeded bugs that only these checks can reveal (double slot handout, ignored failed reset) |
| `command` | the command lines `poolfuzz soak` and `poolfuzz lincheck`: report folders, progress, Ctrl-C |
| `leftovers` | the memfds and descriptors a pool may leave in a process |
| `probe`, `scheduling`, `svg`, `chart` | non-faulting memory access, thread-switch perturbation, SVG drawing |

Entry points, each returning a report object with `ok` and `describe()` and printing nothing:
`workload.run_isolation(config)`, `lincheck.run(duration, ...)`, `faultinject.sweep(program)`,
`soak.soak(duration, workers, ...)`. `poolfuzz soak --duration 1h --workers auto` and
`poolfuzz lincheck --duration 10m` run the long ones and write `reports/soak|lincheck/<date>-<id>/`.
"""

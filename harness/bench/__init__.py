"""`poolfuzz bench`: what the reference allocator and the harness cost, in figures.

| module | what |
|---|---|
| `command` | the command: options, progress, outputs (`main_bench`, `run_bench`, `add_arguments`) |
| `plan` | how much work each section does (`FULL`, `QUICK`, `SMOKE`) |
| `timing` | medians of interleaved runs, in the calling thread's CPU time |
| `isolated` | loops timed in worker processes of their own (the throughput and op-cost loops) |
| `cycle`, `wasmtime_cycle` | section 1: instantiate, dirty N pages, deallocate — reference, C floor, Wasmtime |
| `trace`, `native`, `floor.c` | the C floor: the reference's calls of one cycle, recorded and replayed in C |
| `sequences`, `throughput` | section 2: checked against unchecked ops/s on typical sequences of both engines |
| `scaling` | section 3: cycle cost by pool size, op cost by sequence length |
| `claims` | section 4: the seeds' claims as exact counts per reuse |
| `results` | every section run and put together, ratios and targets (the `--json` report) |
| `tables`, `plot` | the report as text and Markdown tables, and as a PNG (with matplotlib) |
"""

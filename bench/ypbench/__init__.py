"""yieldpoint benchmarks: a C-future implementation vs CPython's own coroutines.

One command (bench/run) measures, interleaved in one process, every metric
(config.METRICS) against its asyncio baseline and prints a table of ratios
(candidate / baseline) with the targets; it also writes results.json and
results.png (matplotlib, Agg).  See bench/README.md.

Subcommands (the default is `run`):

  run       the benchmark (wall clock, interleaved; memory in fresh children;
            --callgrind adds instruction counts and per-function profiles)
  readme    regenerate the results section of bench/README.md from a JSON
  _mem, _cg internal: one memory / one callgrind child process

A candidate is any module exporting the five fixtures noop, yield_now,
park, wake_parked and wake_parked_from_thread (--impl MODULE --path DIR);
--impl repeated measures several candidates against the same native
baseline in one interleaved run.

The package, one concern per file (layers run one way, top to bottom):

  cli        the subcommands and `run`, composing the rest
  readme     bench/README.md's generated results section
  chart      results.png (matplotlib, Agg)
  tables     the tables (ratios and targets, memory by kind, scaling),
             the profile text
  schema     results.json's shape; older single-candidate files
  callgrind  instruction counts and per-function profiles (children)
  memory     bytes per suspended coroutine (children)
  breakdown  those bytes by object kind (the walk in the memory child)
  timing     interleaved wall-clock rounds, scaling
  children   running this script again as a child process
  stats      medians and quantiles
  sides      the candidates and their native baseline, one block at a
             time; loading and probing the candidates
  trio_sides the same under trio.run, against trio's own primitives
             (run --runtime trio)
  config     paths, fixtures, the metrics and their targets

bench/yp_bench.py is the entry point (bench/run, ctest bench.quick).
"""

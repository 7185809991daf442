"""The entry points yp-conform (runner/embed.c) calls in its embedded
interpreter.  Each returns the process's exit status.

    yp-conform --yp-enumerate DIR key=value...  enumerate(DIR, {...})
    (a Criterion worker)                        work(DIR, index)
    yp-conform --yp-report DIR SECONDS          report(DIR, SECONDS)
"""
import os
import sys

from . import collect as col
from . import expectations as exps
from . import formats
from . import listing as lst
from . import report as rpt


def _err(msg):
    print(f"yp-conform: {msg}", file=sys.stderr, flush=True)


def parse_options(pairs):
    """key=value strings from the C runner -> the options dict."""
    opts = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise ValueError(f"bad option {p!r}")
        opts[k] = v
    opts["paths"] = [p for p in opts.get("paths", "").split(":") if p]
    opts["verbose"] = opts.get("verbose") == "1"
    opts["list"] = opts.get("list") == "1"
    opts["timeout"] = float(opts.get("timeout") or 30)
    return opts


def enumerate(results_dir, conf_dir, pairs):  # noqa: A001 -- the C name
    """Write DIR/listing.json and DIR/flags (one '0'/'1' per instance:
    declared skip); print the header, warnings, or --list.  0 = run,
    2 = harness error, 3 = nothing to run (--list printed)."""
    opts = parse_options(pairs)
    try:
        listing = lst.build(opts, conf_dir)
    except lst.ListingError as e:
        _err(f"harness error: {e}")
        return 2
    for w in listing["warnings"]:
        _err(f"warning: {w}")
    cases = listing["cases"]
    if not cases:
        _err(f"no case matches --filter '{opts.get('filter', '')}'")
        return 2
    if opts["list"]:
        for c in cases:
            print(f"{c['id']}\t{','.join(c['clauses'])}")
        return 3
    lst.save(listing, results_dir)
    with open(os.path.join(results_dir, "flags"), "w") as f:
        f.write("".join("1" if c["skip"] else "0" for c in cases))
    info = listing["run_info"]
    impl = info["implementation"]
    variants = ",".join(f"{k}={v}" for k, v in sorted(impl["variants"].items()))
    print(f"yp-conform: {impl['name']} {impl['version']} ({impl['module_file']})\n"
          f"  adapter contract {impl['contract']}, spec "
          f"{info['suite']['spec_version']}, {variants}\n"
          f"  {len(cases)} case instances, loops {opts['loops'] or 'all'}, "
          f"timeout {opts['timeout']:.0f} s, expectations "
          f"{info['suite']['expectations']}", flush=True)
    return 0


def work(results_dir, index):
    from . import worker
    worker.run(results_dir, index)
    return 0


def report(results_dir, wall_seconds):
    try:
        listing = lst.load(results_dir)
    except (OSError, ValueError) as e:
        _err(f"harness error: no listing in {results_dir}: {e}")
        return 2
    opts = listing["options"]
    records = col.collect(results_dir, listing)
    rep = rpt.build(listing, records, float(wall_seconds))
    formats.console(rep, verbose=opts.get("verbose"))
    rc = rpt.exit_code(rep)
    try:
        if opts.get("json"):
            rpt.write_json(rep, opts["json"])
        if opts.get("junit"):
            formats.junit(rep, opts["junit"])
        if opts.get("tap"):
            formats.tap(rep, opts["tap"])
        if opts.get("write_expectations"):
            n, errors = exps.write(opts["write_expectations"],
                                   rep["implementation"], rep["cases"])
            print(f"wrote {n} expectation{'s' if n != 1 else ''} to "
                  f"{opts['write_expectations']}")
            if errors:
                _err(f"{errors} harness error{'s' if errors != 1 else ''} "
                     f"not written as expectations; fix the adapter")
    except (OSError, exps.ExpectationsError) as e:
        _err(f"cannot write a report: {e}")
        return 2
    sys.stdout.flush()
    return rc

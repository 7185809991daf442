"""yp-conform's results: the one owner of the record, expectations and
report formats.

The C runner (``runner/``) is only the supervisor: it spawns one worker per
case instance, applies the timeout and leaves the evidence of a crash or a
hang in the results directory.  Everything about *results* lives here:

``schema``        the statuses, the outcomes and the record format
``listing``       the enumeration: adapter + cases + expectations -> listing.json
``expectations``  reading, matching and writing expectations files
``worker``        one case instance -> one JSON record (``<i>.res``)
``collect``       the results directory -> records (CRASH, TIMEOUT and harness
                  errors for records that are missing or cannot be parsed)
``run_info``      where and how a run was made (every report carries it)
``report``        records -> the JSON report (per case, clause and area)
``formats``       the console summary, JUnit XML and TAP
``matrix``        N JSON reports -> one HTML page and its Markdown twin
``runner``        the entry points the C runner calls (enumerate, work, report)

``/usr/bin/python3.11 -m results matrix A.json B.json --html M.html --md M.md``
(with ``conformance/`` on ``sys.path``) combines any JSON reports.
"""

"""python3.11 -m results matrix REPORT.json... [--html F] [--md F]
python3.11 -m results table [--readme README.md] REPORT.json...
(run with conformance/ on sys.path, e.g. from conformance/)."""
import sys


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    if argv[0] == "matrix":
        from .matrix import main as matrix_main
        return matrix_main(argv[1:])
    if argv[0] == "table":
        from .table import main as table_main
        return table_main(argv[1:])
    print(f"results: unknown command {argv[0]!r} (known: matrix, table)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

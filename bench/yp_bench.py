#!/usr/bin/python3.11
"""The benchmark's entry point (bench/run, ctest bench.quick, and the
memory and callgrind children): the code is the ypbench package beside
this file (see ypbench/__init__.py and bench/README.md)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ypbench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

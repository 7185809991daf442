"""Mutation testing of the engine against the conformance suite:
`/usr/bin/python3.11 -m mutate --help` (from conformance/tools), or
conformance/tools/mutate.sh.  See conformance/README.md."""

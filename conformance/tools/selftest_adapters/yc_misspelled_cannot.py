"""Self-test adapter: the native fixtures, declaring a 'cannot' key with a
typo (attach.detach-releses).  A key that names nothing of the suite would
skip nothing and say nothing: it must be a harness error."""
import yp_native
from yp_native import *  # noqa: F401,F403

__yp_conformance__ = dict(
    yp_native.__yp_conformance__, implementation="misspelled-cannot",
    cannot=dict(yp_native.__yp_conformance__.get("cannot", {}),
                **{"attach.detach-releses": "typo on purpose"}))

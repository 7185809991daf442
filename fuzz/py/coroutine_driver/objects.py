"""The objects handed to the engine.  Fresh per input and weakly tracked
(World.track), so a leaked reference shows up at the end of the input."""


class FE(Exception):
    pass


class FBase(BaseException):
    pass


class FuzzError(Exception):
    """Raised by ("call", fn) functions on purpose."""


class NeedsArg(Exception):
    def __init__(self, a):
        super().__init__(a)


class BadNew(Exception):
    def __new__(cls, *a):
        return 5


class Sentinel:
    pass


class FStop(StopIteration):
    """A StopIteration that can be weakly referenced (the base cannot)."""


def _make_tb():
    try:
        raise FE("tb")
    except FE as e:
        return e.__traceback__


TB = _make_tb()

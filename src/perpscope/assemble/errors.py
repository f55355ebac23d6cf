"""The error :mod:`perpscope.assemble` raises when the store cannot give a computation its inputs."""

from __future__ import annotations

from perpscope.core.errors import InputError


class StoreInputError(InputError):
    """The store lacks what a computation needs, or a choice is invalid; the message says what to do.

    Unlike its base class it names no file: ``str(e)`` is the message alone, so front ends show it as is.

    Parameters
    ----------
    message : str
        What was expected, what was found and what to do.
    """

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.path = "store"
        self.row = None
        self.problem = message
        self.hint = None

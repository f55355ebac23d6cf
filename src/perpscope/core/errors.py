"""Errors that say what was expected, what was found, and what the user can do."""

from __future__ import annotations


class PerpscopeError(Exception):
    """Base class of every error perpscope raises on purpose."""


class InputError(PerpscopeError):
    """Bad input data: names the file, the row (1-based, header counted) and the problem.

    Parameters
    ----------
    path : str
        File (or ``archive.zip:member.csv``) the problem was found in.
    problem : str
        What was expected and what was found.
    row : int, optional
        1-based line number in the file, when the problem is in one row.
    hint : str, optional
        What the user can do about it.
    """

    def __init__(self, path: str, problem: str, row: int | None = None, hint: str | None = None) -> None:
        self.path = path
        self.row = row
        self.problem = problem
        self.hint = hint
        where = f"{path}, row {row}" if row is not None else path
        msg = f"{where}: {problem}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        # pickled with its own arguments: a download task's report of a bad checksum crosses from a
        # cluster worker to the client (an Exception pickles its message alone, which __init__ refuses)
        return (type(self), (self.path, self.problem, self.row, self.hint))


class NotImportable(InputError):
    """A file perpscope recognizes but cannot honestly turn into records; the importer skips it.

    The message says why (e.g. rolling-window totals that are not bars, or no side or price).
    """


class ChecksumError(InputError):
    """A downloaded file's SHA-256 does not match the published ``.CHECKSUM``."""


class StoreError(PerpscopeError):
    """The store refused a write or read (schema mismatch, locked, unreadable file)."""


class VenueError(PerpscopeError):
    """A venue or archive answered something we cannot use (HTTP error, region block, bad payload)."""

"""Exceptions raised by geocity.

Every error a user can cause is a :class:`GeocityError`; each subclass also
inherits the matching built-in so that ``except ValueError`` keeps working.
Messages name the parameter, row or file, what was expected and the fix.
"""

from __future__ import annotations


class GeocityError(Exception):
    """Root of all geocity errors."""


class ValidationError(GeocityError, ValueError):
    """An argument, a row or a file's content is not acceptable."""


class NotFoundError(GeocityError, KeyError):
    """A named thing (layer, corridor, figure, column, city) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return str(self.args[0]) if self.args else ""


class OutputExistsError(GeocityError, FileExistsError):
    """An output exists and overwriting was not asked for."""


class DependencyError(GeocityError, ImportError):
    """An optional component (font, browser, package) is missing."""


class GeocityWarning(UserWarning):
    """Root of geocity's advisory warnings (the command line prints them as
    plain ``Warning: ...`` lines, without Python's file:line prefix)."""


class FormulaCellWarning(GeocityWarning):
    """A CSV output has text cells that a spreadsheet may run as a formula
    (they start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return);
    see the *CSV* policy of :mod:`geocity.export`."""

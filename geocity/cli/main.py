"""The ``geocity`` click group: logging flags, ``--version`` and the turning
of :class:`geocity.errors.GeocityError` into a one-line message and exit 1."""

from __future__ import annotations

import logging
import sys
import warnings

import click

from .. import __version__
from ..errors import GeocityError, GeocityWarning

_showwarning = warnings.showwarning


def _plain_warning(message, category, filename, lineno, file=None, line=None):
    """geocity's own warnings as one plain line; anything else as Python shows it."""
    if isinstance(category, type) and issubclass(category, GeocityWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _showwarning(message, category, filename, lineno, file, line)


class _Group(click.Group):
    """A group that shows user errors without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GeocityError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="geocity")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
def cli(verbose: int) -> None:
    """geocity: global cities, clusters, corridors and maps."""
    warnings.showwarning = _plain_warning
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def _register() -> None:
    # one line per command module; each module defines ``command``
    from . import commands  # noqa: F401  (populates the group)


_register()

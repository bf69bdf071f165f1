"""The ``geocity`` click group: logging flags, ``--version`` and the turning
of :class:`geocity.errors.GeocityError` — and of a file-system error
(permission denied, not a folder, disk full, ...) — into a one-line message
and exit 1. Anything else (a bug) keeps its traceback."""

from __future__ import annotations

import errno
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


#: errno values of file-system errors a user causes (a path, its permissions, the disk).
_FS_ERRNOS = frozenset(
    getattr(errno, n) for n in ("EACCES", "EPERM", "ENOENT", "ENOTDIR", "EISDIR", "EEXIST", "ENOTEMPTY", "ENOSPC",
                                "EDQUOT", "EROFS", "ENAMETOOLONG", "ELOOP", "EFBIG", "EMLINK", "EXDEV", "ETXTBSY")
    if hasattr(errno, n)
)


def _fs_error_message(exc: OSError) -> str:
    """``<path>: <reason>; <fix>`` for a file-system error."""
    reason = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(str(p) for p in paths)
    fix = {
        errno.ENOSPC: "free some disk space or choose an output folder on another disk",
        errno.EACCES: "check the path's permissions or choose one you can read/write",
        errno.EPERM: "check the path's permissions or choose one you can read/write",
        errno.EROFS: "choose a folder on a writable disk",
    }.get(exc.errno or 0, "check the path")
    return f"{where}: {reason}; {fix}" if where else f"{reason}; {fix}"


class _NotShownTwice(logging.Filter):
    """Drop log records that geocity also issues as a plain ``Warning:`` line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "geocity_shown_as_warning", False)


class _Group(click.Group):
    """A group that shows user errors without a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GeocityError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            # the file system refused (a path, a permission, a full disk): a message, not a traceback;
            # other OSErrors (network, a bug) keep theirs
            if isinstance(exc, (ConnectionError, TimeoutError)) or exc.errno not in _FS_ERRNOS:
                raise
            raise click.ClickException(_fs_error_message(exc)) from exc


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="geocity")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
def cli(verbose: int) -> None:
    """geocity: global cities, clusters, corridors and maps."""
    warnings.showwarning = _plain_warning
    level = logging.WARNING - 10 * verbose
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_NotShownTwice())
    logging.basicConfig(
        level=max(level, logging.DEBUG), handlers=[handler], format="%(levelname)s %(name)s: %(message)s"
    )


def _register() -> None:
    # one line per command module; each module defines ``command``
    from . import commands  # noqa: F401  (populates the group)


_register()

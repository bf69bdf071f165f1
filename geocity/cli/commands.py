"""Registry of the ``geocity`` sub-commands: one import and one add line per
command module (each module defines a click ``command``)."""

from __future__ import annotations

from .main import cli

# Add sub-commands below, one line each, e.g.
#   from . import layers as _layers; cli.add_command(_layers.command)
from . import reproduce as _reproduce; cli.add_command(_reproduce.command)  # noqa: E702

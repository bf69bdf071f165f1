"""Registry of the ``geocity`` sub-commands: one import and one add line per
command module (each module defines a click ``command``)."""

from __future__ import annotations

from .main import cli

# Add sub-commands below, one line each, e.g.
#   from . import layers as _layers; cli.add_command(_layers.command)
from . import reproduce as _reproduce; cli.add_command(_reproduce.command)  # noqa: E702
from . import density as _density; cli.add_command(_density.command)  # noqa: E702
from . import network as _network; cli.add_command(_network.command)  # noqa: E702
from . import corridors as _corridors; cli.add_command(_corridors.command)  # noqa: E702
from . import figures as _figures; cli.add_command(_figures.command)  # noqa: E702
from . import clusters as _clusters; cli.add_command(_clusters.command)  # noqa: E702
from . import webmap as _webmap; cli.add_command(_webmap.command)  # noqa: E702
from . import layers as _layers; cli.add_command(_layers.command)  # noqa: E702
from . import geocode as _geocode; cli.add_command(_geocode.command)  # noqa: E702
from . import qgis as _qgis; cli.add_command(_qgis.command)  # noqa: E702
from . import plate as _plate; cli.add_command(_plate.command)  # noqa: E702

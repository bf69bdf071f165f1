"""The ``geocity`` command line: a thin shell over the Python API, one module
per command, shared options in :mod:`geocity.cli.options`."""

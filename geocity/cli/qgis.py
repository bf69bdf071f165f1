"""``geocity qgis-plugin``: build the QGIS Processing provider plugin zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import click

from . import options

#: The plugin's folder in the repository (the zip holds it as ``geocity_provider/``).
PLUGIN_NAME = "geocity_provider"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # zip entries carry no build time: the same sources give the same bytes


def plugin_source() -> Path:
    """The plugin sources: ``qgis_plugin/geocity_provider`` of a source checkout (an editable
    install), or ``geocity/_qgis_plugin`` where a wheel carries them."""
    from ..errors import NotFoundError

    here = Path(__file__).resolve().parents[1]
    candidates = [here.parent / "qgis_plugin" / PLUGIN_NAME, here / "_qgis_plugin"]
    for src in candidates:
        if (src / "metadata.txt").is_file():
            return src
    raise NotFoundError(
        f"the QGIS plugin sources are not here ({candidates[0]}); build the plugin with a geocity installed "
        "from its source checkout in editable mode (pip install -e /path/to/geocity), where qgis_plugin/ sits "
        "beside geocity/")


def build_plugin(output, *, overwrite: bool = False) -> Path:
    """Write the plugin zip (metadata version = geocity's), deterministically, atomically."""
    from .. import __version__
    from ..errors import ValidationError
    from ..export import atomic_path

    out = Path(output)
    if out.suffix.lower() != ".zip":
        raise ValidationError(f"-o/--output {out}: a QGIS plugin is installed from a .zip; use a .zip file name")
    src = plugin_source()
    files = sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".pyo"))
    with atomic_path(out, overwrite=overwrite) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            data = p.read_bytes()
            if p.name == "metadata.txt":
                data = data.replace(b"@VERSION@", __version__.encode())
            info = zipfile.ZipInfo(f"{PLUGIN_NAME}/{p.relative_to(src).as_posix()}", _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out


@click.command("qgis-plugin")
@options.output_file
@options.overwrite
def command(output, overwrite):
    """Build the QGIS Processing provider plugin (the geocity algorithms in
    the QGIS toolbox, the graphical modeler and qgis_process) as a zip to
    install with Plugins → Manage and Install Plugins → Install from ZIP.

    The plugin runs geocity in its own Python process (python -m
    geocity.qgis_worker), never inside QGIS: the Python named by
    GEOCITY_PYTHON, else QGIS's own, else python3 on the PATH.

    Example: geocity qgis-plugin -o geocity_provider.zip
    """
    path = build_plugin(output, overwrite=overwrite)
    click.echo(f"wrote {path}; install it in QGIS: Plugins → Manage and Install Plugins → Install from ZIP")

"""One folium map → one HTML page, safely and (optionally) self-contained.

This is the only place where a web map becomes text. It does two things
no folium call does on its own:

**No second template pass.** branca (0.8, under folium 0.20) renders each
element's Jinja macros and then wraps the *rendered text* in
``branca.element.Element(text)``, which compiles that text as a new Jinja
template. Any ``{{ … }}``, ``{% … %}`` or ``{# … #}`` inside data — a city
name from a user's CSV, a column of a GeoPackage, a tag of a GeoTIFF —
would be evaluated on the machine that builds the map (template injection:
``{{ 7*7 }}`` became ``49``; ``{{ cycler.__init__.__globals__.os… }}`` runs
code). :func:`render` renders the page with that second compilation
replaced by a literal: the already-rendered text is kept as it is, with
Jinja's own newline handling (``\\r\\n`` → ``\\n``, one trailing newline
dropped) so pages are byte-identical to branca's for data without
delimiters. Only geocity's own templates and folium's are ever compiled.
As a second, independent layer, :func:`geocity.render.leaflet.escape`
writes ``{`` and ``}`` of every user string as character references, so a
map shown through folium's own ``save`` or a notebook's ``_repr_html_`` is
inert too.

**Self-contained pages.** With ``assets="inline"`` every script and
stylesheet folium links from a CDN is replaced by the vendored copy in
``geocity/render/assets/`` (npm packages, unmodified, with their licences;
versions and SHA-256 checksums in ``assets/ASSETS.json``, verified on
every use), and the images those stylesheets reference become ``data:``
URIs. A page that would still link an asset geocity does not ship is
refused, naming the address. ``assets="cdn"`` keeps folium's links.

Every page says what it needs from the network in a
``<meta name="geocity-network">`` tag and an HTML comment at its top:
``none``, or the hosts of its tile layers (and of the CDN in ``cdn`` mode).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit

from ..errors import ValidationError

__all__ = ["ASSET_MODES", "render", "finish", "asset_catalogue", "network_needs"]

#: ``assets`` values of :func:`render` (and ``geocity webmap --assets``).
ASSET_MODES: tuple[str, ...] = ("inline", "cdn")

_ASSETS = Path(__file__).resolve().parent / "assets"
_LOCK = threading.Lock()
_NEWLINES = re.compile(r"\r\n|\r|\n")
_SCRIPT_LINK = re.compile(r'<script src="(?P<url>[^"<>]+)"></script>')
_CSS_LINK = re.compile(r'<link rel="stylesheet" href="(?P<url>[^"<>]+)"\s*/?>')
_CSS_URL = re.compile(r"url\((?P<q>['\"]?)(?P<ref>[^'\")]+)(?P=q)\)")
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


class _Literal:
    """Stands in for ``jinja2.Template`` where branca compiles text it has
    already rendered: "renders" to that text, unchanged but for Jinja's
    newline normalisation, so nothing in it is ever evaluated."""

    def __init__(self, source: str, *args: Any, **kwargs: Any) -> None:
        text = _NEWLINES.sub("\n", str(source))
        self._text = text[:-1] if text.endswith("\n") else text

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self._text


@contextmanager
def _no_second_pass() -> Iterator[None]:
    """While rendering, ``branca.element.Element(text)`` keeps ``text`` literal.

    ``Element.__init__`` looks ``Template`` up in ``branca.element`` at call
    time; during a render it is only called on rendered text (branca's
    ``MacroElement.render``, folium's ``Class.render``, ``LayerControl`` …),
    never to build a template of geocity's or folium's own (those are
    class attributes compiled at import).
    """
    import branca.element as be

    with _LOCK:
        original = be.Template
        be.Template = _Literal  # type: ignore[assignment,misc]
        try:
            yield
        finally:
            be.Template = original  # type: ignore[misc]


def _render_figure(root: Any) -> str:
    with _no_second_pass():
        return str(root.render())


# --------------------------------------------------------------------------
# vendored assets
# --------------------------------------------------------------------------
@lru_cache(maxsize=1)
def asset_catalogue() -> dict[str, dict[str, Any]]:
    """The vendored front-end packages (``assets/ASSETS.json``): folder →
    npm name, version, licence, files with SHA-256 and the CDN addresses
    each file replaces."""
    data = json.loads((_ASSETS / "ASSETS.json").read_text(encoding="utf-8"))
    return dict(data["packages"])


@lru_cache(maxsize=None)
def _asset_bytes(folder: str, name: str) -> bytes:
    entry = asset_catalogue()[folder]["files"][name]
    raw = (_ASSETS / folder / name).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != entry["sha256"]:
        raise ValidationError(
            f"vendored asset {folder}/{name} does not match its checksum in geocity/render/assets/ASSETS.json "
            f"({digest} ≠ {entry['sha256']}); reinstall geocity"
        )
    return raw


@lru_cache(maxsize=1)
def _by_url() -> dict[str, tuple[str, str]]:
    out = {}
    for folder, pkg in asset_catalogue().items():
        for name, entry in pkg["files"].items():
            for url in entry.get("replaces", ()):
                out[url] = (folder, name)
    return out


def _inline_css(folder: str, name: str) -> str:
    css = _asset_bytes(folder, name).decode("utf-8")
    base = Path(name).parent

    def data_uri(match: re.Match) -> str:
        ref = match.group("ref")
        if ref.startswith(("data:", "#")):
            return match.group(0)
        rel = (base / ref).as_posix()
        parts: list[str] = []
        for p in rel.split("/"):
            if p == "..":
                if parts:
                    parts.pop()
            elif p not in ("", "."):
                parts.append(p)
        rel = "/".join(parts)
        files = asset_catalogue()[folder]["files"]
        if rel not in files:
            raise ValidationError(f"vendored stylesheet {folder}/{name} refers to {ref!r}, which geocity does not ship")
        mime = _MIME.get(Path(rel).suffix.lower(), "application/octet-stream")
        b64 = base64.b64encode(_asset_bytes(folder, rel)).decode("ascii")
        return f'url("data:{mime};base64,{b64}")'

    return _CSS_URL.sub(data_uri, css)


def _inline(html: str) -> str:
    table = _by_url()

    def inliner(kind: str, tag: str, body):
        def sub(match: re.Match) -> str:
            url = match.group("url")
            if url not in table:
                raise ValidationError(
                    f"the map links the {kind} {url}, which geocity does not ship for a self-contained page; "
                    "use assets='cdn' (--assets cdn) or remove the element that needs it"
                )
            folder, name = table[url]
            text = body(folder, name).replace(f"</{tag}", f"<\\/{tag}")
            return f"<{tag}>/* {folder} {asset_catalogue()[folder]['version']} ({name}) */\n{text}\n</{tag}>"

        return sub

    script = inliner("script", "script", lambda folder, name: _asset_bytes(folder, name).decode("utf-8"))
    style = inliner("stylesheet", "style", _inline_css)
    return _CSS_LINK.sub(style, _SCRIPT_LINK.sub(script, html))


# --------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------
def _hosts(urls: list[str]) -> list[str]:
    return sorted({urlsplit(u.replace("{s}", "a")).hostname or u for u in urls})


def network_needs(html: str, tile_urls: list[str]) -> list[str]:
    """Hosts the page loads from: its tile servers and any linked asset."""
    links = [m.group("url") for m in _SCRIPT_LINK.finditer(html)]
    links += [m.group("url") for m in _CSS_LINK.finditer(html)]
    return _hosts(list(tile_urls) + links)


def _check_mode(assets: str) -> str:
    if assets not in ASSET_MODES:
        raise ValidationError(f"`assets` must be one of {list(ASSET_MODES)}, got {assets!r}")
    return assets


def render(root: Any) -> str:
    """Render a branca ``Figure`` (``m.get_root()``) to HTML text, compiling
    no rendered text a second time (see the module docstring).

    The page still links folium's CDNs; :func:`finish` inlines them and adds
    the network statement.
    """
    return _render_figure(root)


def finish(html: str, *, assets: str = "inline", tile_urls: list[str] | None = None,
           note: Mapping[str, str] | None = None) -> str:
    """Inline the assets (``assets="inline"``) and state the network needs.

    Parameters
    ----------
    html
        A page from :func:`render`.
    assets
        ``"inline"``: scripts and stylesheets inside the page (it then needs
        the network for its tile layers only); ``"cdn"``: links to folium's
        CDNs, as folium writes them.
    tile_urls
        URL templates of the page's tile layers, for the network statement.
    note
        Extra ``name: text`` lines for the comment at the top of the page
        (plain text; ``--`` is written as ``- -`` so the comment cannot end).

    Returns
    -------
    str
        The page.
    """
    _check_mode(assets)
    if assets == "inline":
        html = _inline(html)
    hosts = network_needs(html, list(tile_urls or []))
    need = ", ".join(hosts) if hosts else "none"
    lines = [f"geocity web map; assets: {assets}; network: {need}"]
    lines += [f"{k}: {v}" for k, v in (note or {}).items()]
    comment = "\n".join(s.replace("--", "- -").replace(">", "&gt;") for s in lines)
    meta = f'<meta name="geocity-network" content="{_attr(need)}" />'
    if html.startswith("<!DOCTYPE html>"):
        head, _, rest = html.partition("\n")
        html = f"{head}\n<!-- {comment} -->\n{rest}"
    else:
        html = f"<!-- {comment} -->\n{html}"
    return html.replace("<head>", "<head>\n    " + meta, 1)


def _attr(text: str) -> str:
    import html as _html

    return _html.escape(text, quote=True)

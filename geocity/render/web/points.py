"""A user's own points: circle markers with tooltips and popups, or — from
:data:`MANY_POINTS` on — a compact canvas layer (optionally clustered)."""

from __future__ import annotations

from typing import Any, Mapping

import folium
import numpy as np
from folium.elements import JSCSSMixin
from folium.plugins import MarkerCluster
from folium.template import Template

from ... import styles as _styles
from .base import WebMap, bounds_of
from .features import COORD_DECIMALS, check_points, collection, geojson, radius, style_of
from .legend import Section
from .text import check_lang, escape, label, pick, rows_html

__all__ = ["add", "MANY_POINTS"]

#: From this many user points on, points are drawn on a canvas from a compact array.
MANY_POINTS = 10_000
_CLUSTER_JS = tuple(MarkerCluster.default_js)
_CLUSTER_CSS = tuple(MarkerCluster.default_css)


class PointCloud(JSCSSMixin, folium.map.Layer):
    """Many points as canvas circle markers, optionally clustered.

    The data is a compact ``[[lat, lon, tooltip_html], ...]`` array; markers
    are built in one loop and added in bulk (``addLayers``), which is what
    keeps 100 000 points loading in seconds (folium's FastMarkerCluster adds
    them one by one).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var data = {{ this.data|tojson }};
            var renderer = L.canvas({padding: 0.5});
            var style = {{ this.marker_style|tojson }};
            style.renderer = renderer;
            var markers = new Array(data.length);
            for (var i = 0; i < data.length; i++) {
                var row = data[i];
                var mk = L.circleMarker([row[0], row[1]], style);
                mk._geocityTip = row[2];
                markers[i] = mk;
            }
            {%- if this.cluster %}
            var group = L.markerClusterGroup({{ this.cluster_options|tojson }});
            {%- else %}
            var group = L.featureGroup();
            {%- endif %}
            group.addLayers ? group.addLayers(markers) : markers.forEach(function (m) { group.addLayer(m); });
            // tooltips are bound on first hover: binding 100 000 up front costs seconds
            group.on("mouseover", function (e) {
                var mk = e.layer || e.propagatedFrom;
                if (mk && mk._geocityTip && !mk.getTooltip()) { mk.bindTooltip(mk._geocityTip).openTooltip(); }
            });
            return group;
        })();
        {%- if this.visible %}
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, data, *, name: str, show: bool, marker_style: dict, cluster: bool):
        super().__init__(name=name, overlay=True, control=True, show=False)
        self._name = "PointCloud"
        self.data = data
        self.marker_style = marker_style
        self.cluster = cluster
        self.visible = show
        self.cluster_options = {"chunkedLoading": False, "removeOutsideVisibleBounds": True}
        if cluster:
            self.default_js = list(_CLUSTER_JS)
            self.default_css = list(_CLUSTER_CSS)


def _label_column(gdf) -> str | None:
    for c in ("name", "name_en", "label", "title", "id", "city_id"):
        if c in gdf.columns:
            return c
    return None


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None, provenance=None,
        name: str | None = None, show: bool = True, max_popup_columns: int = 12,
        cluster: bool = False) -> Section | None:
    """Add a user's own points.

    With fewer than :data:`MANY_POINTS` points each gets a circle marker with
    a tooltip (its ``name``/``label`` column) and a popup of its attributes.
    With more, the points are drawn on a canvas with tooltips only (bound on
    first hover) from a compact array: 100 000 points make a 3.8 MB page that
    headless Chromium shows in about 2 s on a 2-core machine.
    ``cluster=True`` groups them with Leaflet.markercluster instead, which
    reads better at world scale but loads far slower with folium's
    markercluster 1.1.0 (about 13 s for 100 000 points, 3 s for 10 000).
    ``provenance`` is unused (the points carry the user's own values).

    Returns
    -------
    Section or None
        The points' symbol, tied to the layer; None (and a note) when empty.
    """
    check_lang(lang)
    style = style_of(style)
    gdf = check_points(data, "points")
    title = name if name is not None else label("points", lang)
    if len(gdf) == 0:
        wm.note(f"{title}: no points to show")
        return None
    color = _styles.sequential_colors(style)[-1]
    lab = _label_column(gdf)
    labels = [escape(v) for v in gdf[lab]] if lab else [""] * len(gdf)
    if len(gdf) >= MANY_POINTS:
        xs = np.round(gdf.geometry.x.to_numpy(), COORD_DECIMALS)
        ys = np.round(gdf.geometry.y.to_numpy(), COORD_DECIMALS)
        rows = [[float(y), float(x), tip] for y, x, tip in zip(ys, xs, labels, strict=True)]
        layer: Any = PointCloud(rows, name=escape(title), show=show, cluster=cluster,
                           marker_style={"radius": 3, "color": "#ffffff", "weight": 0.5, "fillColor": color,
                                         "fill": True, "fillOpacity": 0.85})
    else:
        cols = [c for c in gdf.columns if c != gdf.geometry.name][:max_popup_columns]
        props = []
        for rec, tip in zip(gdf[cols].to_dict("records"), labels, strict=True):
            rows_ = [(escape(c), escape(rec[c])) for c in cols]
            props.append({"style": {"radius": radius(30.0), "color": "#ffffff", "weight": 1.0, "fillColor": color,
                                    "fill": True, "fillOpacity": 0.85}, "tip": tip or escape(title),
                          "pop": rows_html(tip or escape(title), rows_)})
        layer = geojson(collection(list(gdf.geometry), props), name=escape(title), show=show,
                        marker=folium.CircleMarker(radius=4))
    wm.add(layer, bounds_of(gdf))
    entry = ("dot", color, pick(f"{len(gdf):,} points", f"{len(gdf):,} 个点", lang))
    return Section(title, [entry], [(layer.layer_name, show)])

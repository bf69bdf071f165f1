"""Label placement on the static plates (:mod:`geocity.render.static`):
greedy, collision-free placement of point labels around their markers
(halo twins below the text, leader lines as a last resort), keeping off
other labels, markers and the plate's furniture.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .static_furniture import PlateFurniture

log = logging.getLogger("geocity.render.static")


def agg_renderer(fig: Figure) -> RendererAgg:
    """The renderer of a plate's figure (its canvas is always a ``FigureCanvasAgg``)."""
    return cast(FigureCanvasAgg, fig.canvas).get_renderer()


_POSITIONS = [  # (dx, dy) in units of offset, ha, va
    (1, 1, "left", "bottom"), (1, -1, "left", "top"), (-1, 1, "right", "bottom"), (-1, -1, "right", "top"),
    (1.3, 0, "left", "center"), (-1.3, 0, "right", "center"), (0, 1.3, "center", "bottom"),
    (0, -1.3, "center", "top"),
    (2.2, 2.2, "left", "bottom"), (2.2, -2.2, "left", "top"), (-2.2, 2.2, "right", "bottom"),
    (-2.2, -2.2, "right", "top"),
    (3.5, 0, "left", "center"), (-3.5, 0, "right", "center"), (0, 3.5, "center", "bottom"),
    (0, -3.5, "center", "top"),
]


#: Last-resort positions further out, drawn with a thin leader line to the point.
_LEADER_POSITIONS = [
    (r * dx, r * dy, ha, va)
    for r in (5.0, 7.5, 10.0)
    for dx, dy, ha, va in ((1, 1, "left", "bottom"), (-1, 1, "right", "bottom"), (1, -1, "left", "top"),
                           (-1, -1, "right", "top"), (1.3, 0, "left", "center"), (-1.3, 0, "right", "center"),
                           (0, 1.3, "center", "bottom"), (0, -1.3, "center", "top"))
]


def _place_labels(plate: PlateFurniture, ax, x, y, texts, *, size, weight, max_labels, inset=False) -> list[str]:
    st = plate.style
    fig = plate.fig
    renderer = agg_renderer(fig)
    ax.apply_aspect()
    axbox = ax.get_window_extent(renderer)
    pad = st["labels"]["padding_points"] * fig.dpi / 72.0
    off = st["labels"]["offset_points"]
    # the halo is a separate, stroked twin below the label: a path effect on the
    # label itself would turn its text into outlines in SVG/PDF
    halo = [patheffects.Stroke(linewidth=st["labels"]["halo_width"], foreground=st["colors"]["halo"])]
    to_disp = ax.transData.transform
    boxes = [] if inset else plate.label_boxes
    # obstacles (markers, furniture) in display coords
    obst_boxes: list[tuple[float, float, float, float]] = []
    pt_flags: list[bool] = []
    for o in plate.obstacles:
        if o[0] == "pt":
            px, py = to_disp((o[1], o[2]))
            r = o[3] * fig.dpi / 72.0
            obst_boxes.append((px - r, py - r, px + r, py + r))
        else:
            ax0, ay0 = to_disp((o[1], o[2]))
            ax1, ay1 = to_disp((o[3], o[4]))
            obst_boxes.append((min(ax0, ax1), min(ay0, ay1), max(ax0, ax1), max(ay0, ay1)))
        pt_flags.append(o[0] == "pt")
    for t in ax.texts:  # graticule labels and other fixed text
        if t.get_gid() in ("graticule-label", "north-arrow-label"):
            bb = t.get_window_extent(renderer)
            obst_boxes.append((bb.x0, bb.y0, bb.x1, bb.y1))
            pt_flags.append(False)
    obst = np.asarray(obst_boxes, dtype=float).reshape(-1, 4)
    is_pt = np.asarray(pt_flags, dtype=bool)
    weights = [weight] * len(texts) if isinstance(weight, str) else list(weight)
    placed: list[str] = []
    for xi, yi, t, wgt in zip(x, y, texts, weights, strict=True):
        if max_labels is not None and len(placed) >= max_labels:
            break
        if not (np.isfinite(xi) and np.isfinite(yi)) or not t:
            continue
        pxy = to_disp((xi, yi))
        # the own marker is not an obstacle for its own label
        # (boxes such as an inset's locator frame stay obstacles even around the point)
        own = (is_pt & (obst[:, 0] <= pxy[0] + 0.5) & (obst[:, 2] >= pxy[0] - 0.5)
               & (obst[:, 1] <= pxy[1] + 0.5) & (obst[:, 3] >= pxy[1] - 0.5))
        others = obst[~own]
        ok = False
        for i, (dx, dy, ha, va) in enumerate(_POSITIONS + ([] if inset else _LEADER_POSITIONS)):
            leader = i >= len(_POSITIONS)
            ann = ax.annotate(t, (xi, yi), xytext=(dx * off, dy * off), textcoords="offset points", ha=ha, va=va,
                              fontsize=size, family=plate.family, color=st["colors"]["text"], fontweight=wgt,
                              zorder=15, annotation_clip=False, linespacing=1.0)
            bb = ann.get_window_extent(renderer)
            b = (bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
            inside = b[0] >= axbox.x0 and b[2] <= axbox.x1 and b[1] >= axbox.y0 and b[3] <= axbox.y1
            hit = any(b[0] < q[2] and b[2] > q[0] and b[1] < q[3] and b[3] > q[1] for q in boxes)
            if not hit and others.size:
                hit = bool(np.any((b[0] < others[:, 2]) & (b[2] > others[:, 0])
                                  & (b[1] < others[:, 3]) & (b[3] > others[:, 1])))
            if inside and not hit and leader:  # keep the leader line off other labels too
                seg = _segment_box(pxy, b)
                hit = any(seg[0] < q[2] and seg[2] > q[0] and seg[1] < q[3] and seg[3] > q[1] for q in boxes)
            if inside and not hit:
                common = dict(xytext=(dx * off, dy * off), textcoords="offset points", ha=ha, va=va, fontsize=size,
                              family=plate.family, fontweight=wgt, annotation_clip=False, linespacing=1.0)
                twin = ax.annotate(t, (xi, yi), color=st["colors"]["halo"], path_effects=halo, zorder=14.5, **common)
                twin.set_gid("label-halo")
                if leader:
                    ann.remove()
                    ann = ax.annotate(
                        t, (xi, yi), color=st["colors"]["text"], zorder=15, **common,
                        arrowprops=dict(arrowstyle="-", color=st["colors"]["muted_text"], linewidth=0.4,
                                        shrinkA=1.0, shrinkB=2.0))
                ann.set_gid("label")
                boxes.append(b)
                placed.append(t)
                ok = True
                break
            ann.remove()
        if not ok:
            log.debug("label %r dropped (no free position)", t)
    return placed


def _segment_box(pxy, b) -> tuple[float, float, float, float]:
    """A thin box along the leader from the point ``pxy`` to the nearest
    edge of the label box ``b`` (display coordinates), shrunk at both ends."""
    cx = min(max(pxy[0], b[0]), b[2])
    cy = min(max(pxy[1], b[1]), b[3])
    x0, x1 = sorted((pxy[0], cx))
    y0, y1 = sorted((pxy[1], cy))
    sx, sy = (x1 - x0) * 0.2, (y1 - y0) * 0.2
    return (x0 + sx, y0 + sy, x1 - sx, y1 - sy)



"""Static plates: projections, antimeridian, furniture, scale bar accuracy,
fonts, deterministic output, bad input. Synthetic layers built in code."""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from matplotlib.image import imread
from pyproj import Proj
from shapely.geometry import Point, Polygon, box

from geocity import geodesy
from geocity.errors import DependencyError, NotFoundError, OutputExistsError, ValidationError
from geocity.render import static

DPI = 60


def _basemap() -> gpd.GeoDataFrame:
    """A few 'countries': boxes, one polygon stored across the antimeridian
    with consecutive vertices at 170° and -170°, one in 0…360° longitudes."""
    geoms = [
        box(-10, 35, 30, 60),  # Europe-ish
        box(60, 10, 130, 50),  # Asia-ish
        box(-120, 25, -70, 50),  # North America-ish
        box(100, -5, 110, 5),  # around Singapore
        box(112, 21, 115, 24),  # Greater Bay Area
        Polygon([(170, -20), (-170, -20), (-170, -10), (170, -10)]),  # crosses ±180 (wrapped)
        box(340, -40, 350, -30),  # 0…360 longitudes (= -20…-10)
    ]
    return gpd.GeoDataFrame({"name_en": list("abcdefg")}, geometry=geoms, crs="EPSG:4326")


@pytest.fixture(scope="module")
def basemap():
    return _basemap()


def _png(plate, tmp_path, name="p.png"):
    p = static.save_figure(plate, tmp_path / name, dpi=DPI)
    return imread(p)


def _map_pixels(plate, img):
    fig = plate.fig
    bb = plate.ax.get_position()
    h, w = img.shape[:2]
    kept = 1.0 - plate.trim_fraction  # save_figure cuts the empty paper below the note
    x0, x1 = int(bb.x0 * w), int(bb.x1 * w)
    y0, y1 = int((1 - bb.y1) / kept * h), int((1 - bb.y0) / kept * h)
    del fig
    return img[y0:y1, x0:x1, :3]


def test_fix_wrapping_splits_at_antimeridian():
    poly = Polygon([(170, -20), (-170, -20), (-170, -10), (170, -10)])
    fixed = static.fix_wrapping(poly)
    assert fixed.geom_type == "MultiPolygon"
    widths = [p.bounds[2] - p.bounds[0] for p in fixed.geoms]
    assert all(w <= 10 + 1e-9 for w in widths)
    assert fixed.area == pytest.approx(20 * 10)
    # 0…360 longitudes fold back
    assert static.fix_wrapping(box(340, 0, 350, 10)).bounds[0] == pytest.approx(-20)
    # a normal polygon is untouched; a polar cap (winds around the pole) too
    b = box(0, 0, 10, 10)
    assert static.fix_wrapping(b) is b or static.fix_wrapping(b).equals(b)
    cap = Polygon([(-180, -90), (-180, -70), (0, -70), (180, -70), (180, -90)])
    assert static.fix_wrapping(cap).equals(cap)


def test_world_plate_projects_antimeridian_polygons_without_smearing(basemap):
    plate = static.world_plate(title_en="t", basemap=basemap)
    x0, x1 = plate.ax.get_xlim()
    width = x1 - x0
    proj = plate.project_geoms([Polygon([(170, -20), (-170, -20), (-170, -10), (170, -10)])])
    parts = list(shapely.get_parts(proj[0]))
    assert len(parts) == 2
    for p in parts:
        assert p.bounds[2] - p.bounds[0] < 0.05 * width
    # one piece at each side of the map
    assert min(p.bounds[0] for p in parts) < x0 + 0.1 * width
    assert max(p.bounds[2] for p in parts) > x1 - 0.1 * width


def test_world_plate_furniture_and_pixels(basemap, tmp_path):
    from matplotlib_scalebar.scalebar import ScaleBar

    plate = static.world_plate(title_en="World", title_zh="世界", subtitle_en="sub", lang="en", basemap=basemap)
    plate.add_points([0, 116.4], [51.5, 39.9], s=30, c="red")
    placed = plate.add_labels([0, 116.4], [51.5, 39.9], ["London", "Beijing"])
    assert placed == ["London", "Beijing"]
    from matplotlib.lines import Line2D

    plate.add_legend([Line2D([], [], marker="o", ls="")], ["City"], title="Legend")
    sb = plate.add_scalebar()
    plate.add_note(["Source: test"])
    assert any(lg.get_gid() == "legend" for lg in plate.fig.legends)
    assert any(isinstance(a, ScaleBar) for a in plate.ax.artists) and sb.get_gid() == "scalebar"
    assert any(c.get_gid() == "graticule" for c in plate.ax.collections)
    gl = [t for t in plate.ax.texts if t.get_gid() == "graticule-label"]
    assert any(t.get_text().endswith("°N") for t in gl) and any(t.get_text().endswith("°E") for t in gl)
    texts = [t.get_text() for t in plate.fig.texts]
    assert "World" in texts and any("Source: test" in t for t in texts)
    assert any("Scale true" in t for t in texts)
    img = _png(plate, tmp_path)
    m = _map_pixels(plate, img)
    assert np.mean(np.any(m < 0.97, axis=-1)) > 0.5  # not blank: mostly ocean/land, not paper
    assert len(np.unique(m.reshape(-1, 3).round(2), axis=0)) > 10
    land = np.asarray(tuple(int(static.load_style()["colors"]["land"][i:i + 2], 16) / 255 for i in (1, 3, 5)))
    share_land = np.mean(np.all(np.abs(m - land) < 0.03, axis=-1))
    assert 0.02 < share_land < 0.6


def test_world_scale_bar_true_at_centre(basemap):
    plate = static.world_plate(title_en="t", basemap=basemap)
    sb = plate.add_scalebar()
    x0, x1 = plate.ax.get_xlim()
    y0, y1 = plate.ax.get_ylim()
    lat, lon = plate.center
    # independent: PROJ's scale factor along the parallel at the centre
    # (on the central meridian the parallel is horizontal)
    f = Proj(plate.crs).get_factors(lon, lat)
    m_per_unit = 1.0 / f.parallel_scale
    assert sb.dx == pytest.approx(plate.scale_m_per_unit)
    assert plate.scale_m_per_unit == pytest.approx(m_per_unit, rel=0.02)
    # the labelled length covers the right number of map units at the centre
    L = plate.scale_length_km * 1000.0 / sb.dx
    assert 0.05 < L / (x1 - x0) < 0.4
    xs = np.array([(x0 + x1) / 2 - L / 2, (x0 + x1) / 2 + L / 2])
    lo, la = Proj(plate.crs)(xs, np.full(2, (y0 + y1) / 2), inverse=True)
    # a long bar on a world plate is only true near its centre: compare the
    # ground length of a short piece scaled up
    short = L / 50
    lo, la = Proj(plate.crs)(np.array([(x0 + x1) / 2 - short / 2, (x0 + x1) / 2 + short / 2]),
                             np.full(2, (y0 + y1) / 2), inverse=True)
    d = float(geodesy.distance_km(la[0], lo[0], la[1], lo[1])) * 50
    assert d == pytest.approx(plate.scale_length_km, rel=0.02)


@pytest.mark.parametrize("kind", ["laea", "aeqd"])
def test_regional_plate_scale_bar_and_north_arrow(basemap, kind):
    from geocity.styles import load_style

    st = load_style(overrides={"projection": {"regional": kind}})
    plate = static.regional_plate(center_lat=30.0, center_lon=70.0, half_width_km=800, title_en="Region",
                                  style=st, basemap=basemap)
    sb = plate.add_scalebar()
    assert any(p.get_gid() == "north-arrow" for p in plate.ax.patches)
    x0, x1 = plate.ax.get_xlim()
    y0, y1 = plate.ax.get_ylim()
    L = plate.scale_length_km * 1000.0 / sb.dx
    lo, la = Proj(plate.crs)(np.array([(x0 + x1) / 2 - L / 2, (x0 + x1) / 2 + L / 2]),
                             np.full(2, (y0 + y1) / 2), inverse=True)
    d = float(geodesy.distance_km(la[0], lo[0], la[1], lo[1]))
    assert d == pytest.approx(plate.scale_length_km, rel=0.02)
    assert plate.center == (30.0, 70.0)
    # extent at least what was asked
    assert (x1 - x0) / 2 >= 800e3 - 1


def test_regional_plate_across_antimeridian(tmp_path):
    bm = gpd.GeoDataFrame(geometry=[Polygon([(170, -20), (-170, -20), (-170, -10), (170, -10)])], crs=4326)
    plate = static.regional_plate(center_lat=-15, center_lon=180, half_width_km=1500, title_en="Fiji", basemap=bm)
    img = _png(plate, tmp_path)
    m = _map_pixels(plate, img)
    land = np.asarray(tuple(int(plate.style["colors"]["land"][i:i + 2], 16) / 255 for i in (1, 3, 5)))
    share = np.mean(np.all(np.abs(m - land) < 0.03, axis=-1))
    # 20° × 10° of land (~2100 × 1100 km) in a ≥3000 km wide plate: a solid block, not a band
    assert 0.1 < share < 0.7


def test_insets_and_locator(basemap, tmp_path):
    plate = static.world_plate(title_en="t", basemap=basemap)
    pts = gpd.GeoDataFrame({"name": ["Hong Kong", "Shenzhen"]},
                           geometry=[Point(114.17, 22.32), Point(114.06, 22.54)], crs=4326)
    iax = plate.add_inset(title_en="Greater Bay Area", title_zh="粤港澳大湾区", lat=22.6, lon=113.8,
                          half_width_km=90, basemap=basemap, points=pts, label_col="name")
    assert iax in plate.insets and iax.get_gid() == "inset"
    assert any(p.get_gid() == "inset-locator" for p in plate.ax.patches)
    assert len([t for t in iax.texts if t.get_gid() == "label"]) == 2
    sb = [a for a in iax.artists if a.get_gid() == "inset-scalebar"]
    assert sb and sb[0].fixed_value == 50 and sb[0].dx == 1.0  # 50 km in a CRS true at the inset centre
    # one marker per point (Figure 2-2's change symbols)
    iax2 = plate.add_inset(title_en="Singapore", title_zh="新加坡", lat=1.33, lon=103.84, half_width_km=35,
                           basemap=basemap, points=gpd.GeoDataFrame(geometry=[Point(103.85, 1.29), Point(103.7, 1.35)],
                                                                    crs=4326),
                           point_color=["#c0392b", "#2e6da4"], point_marker=["^", "v"])
    assert sorted(len(c.get_offsets()) for c in iax2.collections) == [1, 1]
    # a label of a city inside the locator box keeps clear of the box's frame
    plate.add_points([114.17], [22.32], s=10)
    assert plate.add_labels([114.17], [22.32], ["Hong Kong"]) == ["Hong Kong"]
    r = plate.fig.canvas.get_renderer()
    lab = [t for t in plate.ax.texts if t.get_gid() == "label"][0]
    from matplotlib.text import Text

    loc = [p for p in plate.ax.patches if p.get_gid() == "inset-locator"][0].get_window_extent(r)
    assert not Text.get_window_extent(lab, r).overlaps(loc)
    _png(plate, tmp_path)


def test_labels_do_not_collide(basemap):
    plate = static.world_plate(title_en="t", basemap=basemap)
    rng = np.random.default_rng(0)
    lon = np.r_[114.0 + rng.uniform(-0.3, 0.3, 40), 2.35]
    lat = np.r_[22.5 + rng.uniform(-0.3, 0.3, 40), 48.85]
    names = [f"City number {i}" for i in range(40)] + ["Paris"]
    plate.add_points(lon, lat, s=10)
    placed = plate.add_labels(lon, lat, names)
    assert "City number 0" in placed and "Paris" in placed
    assert len(placed) < len(names)  # some of the forty stacked cities had to go
    labels = [t for t in plate.ax.texts if t.get_gid() == "label"]
    leaders = [t for t in labels if t.arrow_patch is not None]
    assert leaders  # crowded labels moved further out, with a leader line to their point
    assert all(t.get_text() != "Paris" for t in leaders)  # an uncrowded label stays next to its point
    r = plate.fig.canvas.get_renderer()
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t, r) for t in labels]  # the text only, not the leader
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j])


def test_chinese_labels_render_without_warnings(basemap, tmp_path):
    # filterwarnings=error: a missing glyph ("Glyph ... missing from font") fails here
    plate = static.world_plate(title_en="Change", title_zh="排名变化", subtitle_en="Top", subtitle_zh="前 100 位",
                               lang="both", basemap=basemap)
    plate.add_points([116.4], [39.9], s=20)
    assert plate.add_labels([116.4], [39.9], ["北京 Beijing"]) == ["北京 Beijing"]
    plate.add_scalebar()
    plate.add_note(["来源 / Source"])
    for ext in ("png", "pdf", "svg"):
        static.save_figure(plate, tmp_path / f"zh.{ext}", dpi=DPI)
    svg = (tmp_path / "zh.svg").read_text(encoding="utf-8")
    assert "排名变化" in svg and "Noto Sans CJK SC" in svg


def test_missing_cjk_font_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(static, "cjk_font_path", lambda: None)
    st = static.load_style(overrides={"fonts": {"family_zh": "No Such CJK Font"}})
    with pytest.raises(DependencyError, match="mplfonts"):
        static.world_plate(title_en="t", title_zh="世界", lang="zh", style=st, draw_basemap=False)
    # English plates do not need it
    static.world_plate(title_en="t", lang="en", style=st, draw_basemap=False)


def test_chinese_text_on_an_english_plate_is_refused():
    plate = static.world_plate(title_en="t", lang="en", draw_basemap=False)
    with pytest.raises(ValidationError, match="lang='zh'"):
        plate.add_labels([0], [0], ["北京"])
    with pytest.raises(ValidationError, match="lang must be"):
        static.world_plate(title_en="t", lang="fr", draw_basemap=False)


def _pdf_text_operators(data: bytes) -> bool:
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        raw = m.group(1)
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        if re.search(rb"BT.*?T[jJ].*?ET", raw, re.S):
            return True
    return False


def test_outputs_deterministic_and_vector_text(basemap, tmp_path):
    def make():
        p = static.world_plate(title_en="Deterministic", subtitle_en="plate", basemap=basemap)
        p.add_points([0], [51.5], s=20)
        p.add_labels([0], [51.5], ["London"])
        p.add_scalebar()
        p.add_note(["note"])
        return p

    for ext in ("png", "pdf", "svg"):
        a = static.save_figure(make(), tmp_path / f"a.{ext}", dpi=DPI).read_bytes()
        b = static.save_figure(make(), tmp_path / f"b.{ext}", dpi=DPI).read_bytes()
        assert a == b, ext
    pdf = (tmp_path / "a.pdf").read_bytes()
    assert b"/Font" in pdf and _pdf_text_operators(pdf)
    assert b"CreationDate" not in pdf
    svg = (tmp_path / "a.svg").read_text(encoding="utf-8")
    assert "<text" in svg and "Deterministic" in svg and "<dc:date>" not in svg
    # map labels too stay text (their halo is a separate outline below them, not a path effect)
    assert re.search(r"<text[^>]*>London</text>", svg)
    png = (tmp_path / "a.png").read_bytes()
    assert b"Software" not in png[:400]


def test_save_refuses_overwrite_bad_extension_and_bad_folder(basemap, tmp_path):
    plate = static.world_plate(title_en="t", basemap=basemap)
    p = static.save_figure(plate, tmp_path / "x.png", dpi=DPI)
    with pytest.raises(OutputExistsError):
        static.save_figure(plate, p, dpi=DPI)
    static.save_figure(plate, p, dpi=DPI, overwrite=True)
    with pytest.raises(ValidationError, match=r"\.png, \.pdf, \.svg"):
        static.save_figure(plate, tmp_path / "x.gif")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(ValidationError, match="cannot create the output folder"):
        static.save_figure(plate, blocker / "out.png", dpi=DPI)


def test_basemap_errors(tmp_path):
    nocrs = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)])
    with pytest.raises(ValidationError, match="no CRS"):
        static.load_basemap(nocrs)
    pts = gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=4326)
    with pytest.raises(ValidationError, match="no polygons"):
        static.load_basemap(pts)
    with pytest.raises(NotFoundError):
        static.load_basemap(tmp_path / "missing.gpkg")
    with pytest.raises(ValidationError, match="must be None"):
        static.load_basemap(42)
    shp = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="crs"):  # writing the bad fixture warns; the test is reading it
        nocrs.to_file(shp)
    with pytest.raises(ValidationError, match="no CRS"):
        static.load_basemap(shp)
    bad = tmp_path / "bad.geojson"
    bad.write_text("not json")
    with pytest.raises(ValidationError, match="cannot read"):
        static.load_basemap(bad)
    # another CRS is reprojected; non-polygon rows dropped
    mixed = gpd.GeoDataFrame(geometry=[box(0, 0, 1e5, 1e5), Point(0, 0)], crs="EPSG:3857")
    out = static.load_basemap(mixed)
    assert len(out) == 1 and out.crs.to_epsg() == 4326


def test_chart_plate(tmp_path):
    plate = static.chart_plate(title_en="Chart", title_zh="图表", lang="both")
    plate.ax.barh([0, 1], [1, 2])
    from matplotlib.patches import Patch

    plate.add_legend([Patch()], ["bar"])
    assert plate.ax.get_legend() is not None
    static.save_figure(plate, tmp_path / "c.png", dpi=DPI)


def test_nice_step_and_bilingual():
    assert static.nice_step(100, 5) == 20
    assert static.bilingual("Beijing", "北京", "both") == "北京\nBeijing"
    assert static.bilingual("Beijing", "", "zh") == "Beijing"
    assert static.bilingual("Beijing", "北京", "en") == "Beijing"


def test_missing_glyph_warning_fails_a_run():
    """The guard the suite relies on: matplotlib warns on a missing glyph and
    ``filterwarnings = error`` turns that into a failure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, "北京", family=["DejaVu Sans"])
    with pytest.raises(UserWarning, match="missing from font"):
        fig.savefig(io.BytesIO(), format="png")


def test_title_is_bilingual_and_bottom_band_trimmed(basemap, tmp_path):
    plate = static.world_plate(title_en="World", title_zh="世界", subtitle_en="sub", lang="en", basemap=basemap)
    from matplotlib.lines import Line2D

    plate.add_legend([Line2D([], [], marker="o", ls="")], ["City"], title="Legend")
    plate.add_note(["Source: test"])
    texts = {t.get_gid(): t for t in plate.fig.texts}
    assert texts["title"].get_text() == "World" and texts["title-alt"].get_text() == "世界"
    assert "Noto Sans CJK SC" in texts["title-alt"].get_fontfamily()
    img = _png(plate, tmp_path)
    assert plate.trim_fraction > 0.05  # no inset: the strip below the legend is cut
    assert img.shape[0] == pytest.approx(plate.fig.get_figheight() * DPI * (1 - plate.trim_fraction), abs=2)
    assert static.save_figure(plate, tmp_path / "again.png", dpi=DPI).read_bytes() == (tmp_path / "p.png").read_bytes()
    # switched off in the style: full sheet, one language
    st = static.load_style(overrides={"furniture": {"title_bilingual": False, "trim_bottom": False}})
    p2 = static.world_plate(title_en="World", title_zh="世界", lang="zh", style=st, basemap=basemap)
    p2.add_note(["n"])
    assert "title-alt" not in {t.get_gid() for t in p2.fig.texts}
    assert _png(p2, tmp_path, "full.png").shape[0] == round(p2.fig.get_figheight() * DPI)


def test_fix_wrapping_unwraps_with_geodesy(monkeypatch):
    """One antimeridian mechanism: the plates unwrap with geocity.geodesy.unwrap_lon."""
    np.testing.assert_allclose(geodesy.unwrap_lon([179.0, -179.0, -170.0]), [179.0, 181.0, 190.0])
    assert geodesy.unwrap_lon([]).size == 0
    calls = []
    orig = geodesy.unwrap_lon
    monkeypatch.setattr(geodesy, "unwrap_lon", lambda x: calls.append(len(x)) or orig(x))
    fixed = static.fix_wrapping(Polygon([(170, -20), (-170, -20), (-170, -10), (170, -10)]))
    assert calls and fixed.area == pytest.approx(200)
    assert not hasattr(static, "_unwrap")


def test_load_basemap_refuses_a_table_without_geometry(tmp_path):
    from geocity.analysis import Analysis

    csv = tmp_path / "points.csv"
    csv.write_text("lon,lat\n1,2\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="points.csv.*table without geometry"):
        static.load_basemap(csv)
    with pytest.raises(ValidationError, match="table without geometry"):  # one check for every consumer
        Analysis(basemap=csv).basemap_layer()


# --------------------------------------------------------------------------
# Pacific-centred world plates (styles/pacific.yaml, issue 17 item 4): the
# seam runs down the Atlantic (30°W); the antimeridian is an ordinary line
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pacific():
    return static.world_plate(title_en="t", style="pacific", draw_basemap=False)


def _widths(g, plate):
    x0, x1 = plate.ax.get_xlim()
    return [(p.bounds[2] - p.bounds[0]) / (x1 - x0) for p in shapely.get_parts(g)], (x0, x1)


def test_pacific_style_centres_world_plates_on_150e(pacific):
    from geocity.styles import load_style

    assert static._crs_lon0(pacific.crs) == 150.0
    assert pacific.crs.is_projected
    st = load_style("pacific")
    assert st["projection"]["world"] != load_style()["projection"]["world"]
    assert {k: v for k, v in st.items() if k != "projection"} == {
        k: v for k, v in load_style().items() if k != "projection"}  # only the projection changes
    assert any("EPSG:8859" in n or "150°E" in n for n in pacific.notes)  # the note names the projection


def _fiji_cluster():
    """A cluster hull around Suva, Nuku'alofa and Apia, built as the clusters
    are (local azimuthal hull back to lon/lat), so split at ±180°."""
    pts = shapely.MultiPoint([(178.44, -18.14), (-175.2, -21.14), (-171.76, -13.83)])
    lat0, lon0 = -17.7, -176.5
    local = geodesy.to_local(pts, lat0, lon0, "aeqd").convex_hull.buffer(50_000)
    return geodesy.from_local(local, lat0, lon0, "aeqd", densify_km=25.0)


def test_pacific_plate_draws_antimeridian_clusters_whole(pacific):
    hull = _fiji_cluster()
    assert shapely.get_num_geometries(hull) == 2  # stored split at ±180°, as every layer is
    greenwich = static.world_plate(title_en="t", draw_basemap=False)
    g = pacific.project_geoms([hull])[0]
    assert g.geom_type == "Polygon"  # one piece: no hairline along the antimeridian
    widths, (x0, x1) = _widths(g, pacific)
    assert widths[0] < 0.05
    assert x0 + 0.3 * (x1 - x0) < g.centroid.x < x1 - 0.3 * (x1 - x0)  # near the middle of the map
    # on a Greenwich plate the same cluster is two pieces, one at each edge; nothing lost either way
    gg = greenwich.project_geoms([hull])[0]
    assert shapely.get_num_geometries(gg) == 2
    assert g.area == pytest.approx(gg.area, rel=5e-3)  # both Equal Earth: equal areas (up to edge chords)


def test_pacific_plate_draws_trans_pacific_links_whole_and_cuts_atlantic_ones(pacific):
    tokyo_sf = geodesy.geodesic_line([35.68, 37.77], [139.69, -122.42], 50.0)
    london_ny = geodesy.geodesic_line([51.51, 40.71], [-0.13, -74.01], 50.0)
    assert tokyo_sf.geom_type == "MultiLineString"  # split at ±180° in lon/lat
    g = pacific.project_geoms([tokyo_sf], kind="LineString")[0]
    assert g.geom_type == "LineString"  # drawn whole
    assert max(_widths(g, pacific)[0]) < 0.45
    # London–New York crosses the seam (30°W): cut there, one piece at each edge, never across the map
    h = pacific.project_geoms([london_ny], kind="LineString")[0]
    widths, (x0, x1) = _widths(h, pacific)
    assert len(widths) == 2 and max(widths) < 0.15
    xs = sorted(p.centroid.x for p in shapely.get_parts(h))
    assert xs[0] < x0 + 0.15 * (x1 - x0) and xs[1] > x1 - 0.15 * (x1 - x0)


def test_pacific_plate_cuts_polygons_at_its_seam(pacific):
    atlantic = box(-40, -20, -20, -10)  # straddles 30°W, the seam
    g = pacific.project_geoms([atlantic])[0]
    widths, _ = _widths(g, pacific)
    assert len(widths) == 2 and max(widths) < 0.05


def test_pacific_plate_basemap_not_smeared_and_nothing_lost(pacific):
    bm = static.load_basemap()
    greenwich = static.world_plate(title_en="t", draw_basemap=False)
    areas = []
    for plate in (pacific, greenwich):
        geoms = [g for g in plate.project_geoms(bm.geometry.to_numpy()) if g is not None]
        widest = max(w for g in geoms for w in _widths(g, plate)[0])
        assert widest < 0.5, widest  # Eurasia is the widest (~35%); a smeared country spans the map
        areas.append(sum(g.area for g in geoms))
    # equal-area projections: the same land on both plates (a smear adds area, a lost piece removes it)
    assert areas[0] == pytest.approx(areas[1], rel=2e-3)
    ru = bm.loc[bm["adm0_a3"] == "RUS"].geometry.to_numpy()
    on_pacific = pacific.project_geoms(ru)[0]
    on_greenwich = greenwich.project_geoms(ru)[0]
    # Chukotka is no longer cut at 180°: one part fewer
    assert shapely.get_num_geometries(on_pacific) < shapely.get_num_geometries(on_greenwich)


def test_pacific_plate_pixels_ocean_at_the_edges_land_in_the_middle(tmp_path):
    """Rendered: the Atlantic edge columns of the map are ocean-dominated, and
    no land row spans the whole map (a smeared polygon would)."""
    plate = static.world_plate(title_en="t", style="pacific")
    img = _png(plate, tmp_path)
    m = _map_pixels(plate, img)
    land = np.asarray(tuple(int(plate.style["colors"]["land"][i:i + 2], 16) / 255 for i in (1, 3, 5)))
    is_land = np.all(np.abs(m - land) < 0.03, axis=-1)
    rows = is_land.mean(axis=1)
    assert rows.max() < 0.8  # no row is (nearly) all land
    assert 0.02 < is_land.mean() < 0.6


def test_the_shipped_cjk_file_is_used_even_where_the_system_has_the_family(tmp_path):
    """A second file of Noto Sans CJK SC registered first (as Debian's fonts-noto-cjk is, in a
    fresh font cache): the plates still use mplfonts' file, so their bytes do not depend on
    the machine's fonts."""
    import shutil

    from matplotlib.font_manager import FontProperties, fontManager

    shipped = static.cjk_font_path()
    if shipped is None:
        pytest.skip("mplfonts is not installed")
    other = tmp_path / "system-copy.otf"
    shutil.copyfile(shipped, other)
    saved = list(fontManager.ttflist)
    try:
        fontManager.addfont(str(other))
        entry = [f for f in fontManager.ttflist if f.fname == str(other)]
        fontManager.ttflist[:] = entry + [f for f in fontManager.ttflist if f.fname != str(other)]
        fontManager.findfont(FontProperties(family=static.SHIPPED_CJK_FAMILY))  # cached with the copy first
        assert static.ensure_cjk_font() == static.SHIPPED_CJK_FAMILY
        found = fontManager.findfont(FontProperties(family=static.SHIPPED_CJK_FAMILY), fallback_to_default=False)
        assert Path(found).resolve() == shipped.resolve()
    finally:
        fontManager.ttflist[:] = saved
        fontManager.addfont(str(shipped))  # clears findfont's cache
        fontManager.ttflist[:] = saved

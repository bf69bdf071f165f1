"""The figure catalogue: registry, every recipe renders, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from matplotlib.image import imread
from shapely.geometry import box

from geocity import figures
from geocity.errors import NotFoundError, OutputExistsError, ValidationError
from geocity.render.static import Plate

DPI = 40
REPORT_FIGURES = ["2-1", "2-2", "2-3", "2-5", "3-1", "3-2", *[f"table-2-{i}" for i in range(1, 8)],
                  "corridor-cmrec", "corridor-cicpec", "corridor-cpec"]


@pytest.fixture(scope="module")
def analysis():
    """One analysis for the module: cities, scores, basemap, clusters and corridors computed once."""
    from geocity.analysis import Analysis

    return Analysis()


def test_catalogue_lists_the_report_figures():
    names = figures.list_figures()
    for n in REPORT_FIGURES:
        assert n in names
    r = figures.get_recipe("2-3")
    assert r.title_zh == "全球活力城市聚落分布" and r.label_en == "Figure 2-3" and r.label_zh == "图 2-3"
    assert figures.get_recipe("table-2-1").label_en == "Table 2-1"
    assert figures.get_recipe("corridor-cpec").label_en == ""


def test_unknown_figure_lists_valid_names(tmp_path):
    with pytest.raises(NotFoundError) as e:
        figures.render("2-99", tmp_path)
    assert "2-3" in str(e.value) and "corridor-cpec" in str(e.value)
    with pytest.raises(NotFoundError, match="did you mean '2-3'"):
        figures.get_recipe("2_3")


def test_register_api_for_contributors(tmp_path):
    @figures.register("test-dummy", "Dummy plate", "测试图", kind="Plate")
    def _dummy(ctx):
        plate = ctx.world_plate(subtitle_en="sub", subtitle_zh="副标题")
        plate.add_points([0], [0], s=10)
        plate.add_scalebar()
        plate.add_note(ctx.credits(proxy=True))
        return plate

    try:
        assert "test-dummy" in figures.list_figures()
        with pytest.raises(ValidationError, match="registered twice"):
            figures.register("test-dummy", "x", "y")(lambda ctx: None)
        out = figures.render("test-dummy", tmp_path, lang="zh", formats="png,svg", dpi=DPI,
                             basemap=gpd.GeoDataFrame(geometry=[box(-20, -20, 20, 20)], crs=4326))
        assert [p.name for p in out] == ["test-dummy_zh.png", "test-dummy_zh.svg"]
        svg = out[1].read_text(encoding="utf-8")
        assert "测试图" in svg and "代理值" in svg  # the proxy note, in Chinese
    finally:
        figures.RECIPES.pop("test-dummy", None)
    with pytest.raises(ValidationError):
        figures.register("bad name", "x", "y")


def test_bad_options(tmp_path):
    with pytest.raises(ValidationError, match="format"):
        figures.render("2-1", tmp_path, formats=("gif",))
    with pytest.raises(ValidationError, match="lang"):
        figures.render("2-1", tmp_path, lang="fr")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValidationError, match="is a file"):
        figures.render("2-1", f)
    with pytest.raises(ValidationError, match="cannot create the output folder"):
        figures.render("2-1", f / "sub")
    for bad, msg in ((-5, "dpi must be a whole number"), (0, "dpi must be a whole number"), (2.5, "whole number"),
                     ("high", "whole number"), (100_000, "dpi must be between 10 and 2400")):
        with pytest.raises(ValidationError, match=msg):
            figures.render("2-1", tmp_path / "d", dpi=bad)
        with pytest.raises(ValidationError, match=msg):
            figures.render_all(tmp_path / "d", names=["2-1"], dpi=bad)
    assert not (tmp_path / "d").exists()  # refused before any work


def test_cli_bad_dpi_is_a_message_not_a_traceback(tmp_path):
    from click.testing import CliRunner

    from geocity.cli.main import cli

    for bad in ("-5", "100000"):
        res = CliRunner().invoke(cli, ["figures", "2-1", "-o", str(tmp_path), "--dpi", bad, "-q"])
        assert res.exit_code != 0 and "dpi must be" in res.output and "Traceback" not in res.output, res.output


def test_bar_chart_says_proxy_and_is_deterministic(tmp_path, analysis):
    plate = figures.build("2-1", analysis=analysis)
    assert isinstance(plate, Plate)
    xlabel = plate.ax.get_xlabel()
    assert "PROXY" in xlabel
    assert len(plate.ax.get_yticklabels()) == 20
    assert plate.ax.get_legend() is not None
    a = figures.render("2-1", tmp_path / "a", formats=("png", "pdf"), dpi=DPI, analysis=analysis)
    b = figures.render("2-1", tmp_path / "b", formats=("png", "pdf"), dpi=DPI, analysis=analysis)
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes()
    assert b"/Font" in a[1].read_bytes()
    with pytest.raises(OutputExistsError):
        figures.render("2-1", tmp_path / "a", formats=("png",), dpi=DPI, analysis=analysis)


def _assert_map_plate(plate: Plate, path):
    from matplotlib_scalebar.scalebar import ScaleBar

    assert any(lg.get_gid() == "legend" for lg in plate.fig.legends), "legend missing"
    assert any(isinstance(a, ScaleBar) for a in plate.ax.artists), "scale bar missing"
    img = imread(path)[..., :3]
    bb = plate.ax.get_position()
    h, w = img.shape[:2]
    kept = 1.0 - plate.trim_fraction  # the empty paper below the note is cut off
    m = img[int((1 - bb.y1) / kept * h):int((1 - bb.y0) / kept * h), int(bb.x0 * w):int(bb.x1 * w)]
    assert np.mean(np.any(m < 0.97, axis=-1)) > 0.5, "map area blank"
    assert len(np.unique(m.reshape(-1, 3).round(2), axis=0)) > 10


@pytest.mark.slow
def test_every_recipe_renders(tmp_path, analysis):
    """The whole catalogue once, at low resolution, without a warning."""
    for name in figures.list_figures():
        plate = figures.build(name, analysis=analysis)
        p = figures.save_figure(plate, tmp_path / f"{name}.png", dpi=DPI)
        if plate.kind == "chart":
            assert plate.ax.get_legend() is not None
        else:
            _assert_map_plate(plate, p)
        if name.startswith("corridor-") or name in ("2-2", "3-2") or name.startswith("table-"):
            assert len([t for t in plate.ax.texts if t.get_gid() == "label"]) >= 5, name


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "both"])
def test_every_recipe_renders_in_chinese_and_both(tmp_path, analysis, lang):
    """The catalogue in Chinese and bilingual: no warning (a missing CJK glyph would be one), Chinese text drawn."""
    for name in figures.list_figures():
        plate = figures.build(name, lang=lang, analysis=analysis)
        figures.save_figure(plate, tmp_path / f"{name}_{lang}.png", dpi=30)
        text = " ".join(t.get_text() for t in plate.fig.findobj(lambda a: hasattr(a, "get_text")))
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), name


def test_cluster_plate_has_the_greater_bay_area_inset(analysis):
    plate = figures.build("2-3", analysis=analysis)
    assert len(plate.insets) == 2
    inset_text = " ".join(t.get_text() for ax in plate.insets for t in ax.findobj(lambda a: hasattr(a, "get_text")))
    for name in ("Greater Bay Area", "Shenzhen", "Hong Kong", "Guangzhou", "Singapore"):
        assert name in inset_text, name


def test_map_recipes_chinese_and_both(tmp_path, analysis):
    for name, lang in (("2-2", "zh"), ("corridor-cpec", "both")):
        out = figures.render(name, tmp_path, lang=lang, formats=("png", "svg"), dpi=DPI, analysis=analysis)
        svg = out[1].read_text(encoding="utf-8")
        assert "图" in svg or "走廊" in svg


def test_clusters_plate_has_typology_legend_and_poles(analysis):
    plate = figures.build("2-3", analysis=analysis)
    gids = {c.get_gid() for c in plate.ax.collections}
    assert {"poles", "members"} <= gids
    assert any(p.get_gid() == "clusters" for p in plate.ax.patches)
    leg = [lg for lg in plate.fig.legends if lg.get_gid() == "legend"][0]
    labels = [t.get_text() for t in leg.get_texts()]
    assert any("pole" in t.lower() for t in labels)
    assert any(("cross" in t.lower()) or ("domestic" in t.lower()) for t in labels)
    notes = " ".join(t.get_text() for t in plate.fig.texts if t.get_gid() == "note")
    assert "PROXIES" in notes


def test_user_basemap_file(tmp_path, analysis):
    bm = gpd.GeoDataFrame({"name": ["land"]}, geometry=[box(-180, -60, 180, 80)], crs=4326)
    path = tmp_path / "approved.gpkg"
    bm.to_file(path)
    out = figures.render("table-2-6", tmp_path / "out", basemap=path, formats=("svg",), dpi=DPI)
    svg = out[0].read_text(encoding="utf-8")
    assert "approved.gpkg" in svg
    nocrs = tmp_path / "nocrs.geojson"
    nocrs.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                     '"geometry":{"type":"Point","coordinates":[0,0]}}]}')
    with pytest.raises(ValidationError, match="no polygons"):
        figures.render("2-2", tmp_path / "out2", basemap=nocrs)


def test_render_all_refuses_before_work(tmp_path):
    (tmp_path / "2-2_en.png").write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        figures.render_all(tmp_path, names=["2-1", "2-2"])
    assert not (tmp_path / "2-1_en.png").exists()
    with pytest.raises(NotFoundError):
        figures.render_all(tmp_path, names=["2-1", "nope"])


def test_user_scores_replace_the_proxy(tmp_path):
    import pandas as pd

    from geocity import layers

    ids = layers.load("cities")["city_id"]
    csv = tmp_path / "scores.csv"
    pd.DataFrame({"city_id": ids, "composite": np.linspace(1, 0, len(ids))}).to_csv(csv, index=False)
    plate = figures.build("2-1", scores=csv)
    assert "user-supplied" in plate.ax.get_xlabel() and "PROXY" not in plate.ax.get_xlabel()
    notes = " ".join(t.get_text() for t in plate.fig.texts if t.get_gid() == "note")
    assert "Scores: user-supplied scores (scores.csv)" in notes and "PROX" not in notes


def test_figure_2_2_shows_the_top_100_with_change_symbols(analysis):
    """All 100 GDCI cities (Qingdao, ranked 25 but not in Appendix 3, too),
    each with its up/down/same/new symbol; the rare 'new' star is drawn on
    top and not below change_size; insets repeat the change symbols."""
    from geocity import layers

    plate = figures.build("2-2", analysis=analysis)
    cols = [c for c in plate.ax.collections if (c.get_gid() or "").startswith("cities-")]
    offsets = np.vstack([c.get_offsets() for c in cols])
    assert np.isfinite(offsets).all(axis=1).sum() == 100
    ranked = layers.cities_with_ranks()
    top = ranked.loc[ranked["gdci_rank"] <= 100]
    assert "qingdao-cn" in set(top["city_id"])
    for ch in set(top["gdci_change"]):
        n = sum(len(c.get_offsets()) for c in cols if c.get_gid() == f"cities-{ch}")
        assert n == int((top["gdci_change"] == ch).sum()), ch
    new = [c for c in cols if c.get_gid() == "cities-new"]
    assert new and all(c.get_zorder() > max(o.get_zorder() for o in cols if o not in new) for c in new)
    assert min(new[0].get_sizes()) >= plate.style["symbols"]["change_size"]
    leg = [lg for lg in plate.fig.legends if lg.get_gid() == "legend"][0]
    assert {"Up", "Down", "Unchanged", "New entry"} <= {t.get_text() for t in leg.get_texts()}
    gba = [a for a in plate.insets if "Greater Bay" in a.get_title(loc="left")][0]
    assert len(gba.collections) >= 2  # Guangzhou down, Shenzhen up, Hong Kong unchanged: several markers


def test_figure_3_2_legend_names_the_buffers(analysis):
    plate = figures.build("3-2", analysis=analysis)
    leg = [lg for lg in plate.fig.legends if lg.get_gid() == "legend"][0]
    labels = [t.get_text() for t in leg.get_texts()]
    assert any("100 km buffer" in t for t in labels)
    assert {"CMREC", "CICPEC", "CPEC"} <= set(labels)


def test_corridor_plate_is_trimmed_and_titled_in_both_languages(tmp_path, analysis):
    plate = figures.build("corridor-cpec", lang="zh", analysis=analysis)
    p = figures.save_figure(plate, tmp_path / "c.png", dpi=DPI)
    h_full = plate.fig.get_figheight() * DPI
    assert 0.05 < plate.trim_fraction < 0.3
    assert imread(p).shape[0] == pytest.approx(h_full * (1 - plate.trim_fraction), abs=2)
    texts = {t.get_gid(): t.get_text() for t in plate.fig.texts}
    assert texts["title"].startswith("中巴经济走廊") and "China–Pakistan" in texts["title-alt"]
    # the note sits just below the legend
    r = plate.fig.canvas.get_renderer()
    leg = plate.fig.legends[0].get_window_extent(r)
    note = [t for t in plate.fig.texts if t.get_gid() == "note"][0].get_window_extent(r)
    assert 0 < leg.y0 - note.y1 < 0.05 * plate.fig.get_figheight() * plate.fig.dpi

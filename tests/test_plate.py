"""Plate files (issue 17, item 3): ``geocity plate SPEC.yaml -o plate.pdf``.
The shipped examples render; every bad input is one error naming the file,
line and key, before anything is drawn or written."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import Point

from geocity import plate
from geocity.cli.main import cli
from geocity.errors import NotFoundError, OutputExistsError, ValidationError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DPI = 30


def _texts(p) -> str:
    return "\n".join(t.get_text() for t in p.fig.findobj(lambda a: hasattr(a, "get_text")))


def _legend(p) -> list[str]:
    return [t.get_text() for lg in p.fig.legends for t in lg.get_texts()]


# --------------------------------------------------------------------------
# the shipped examples
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["logistics", "parks_capacity", "pacific_clusters"])
def test_examples_render(name, tmp_path):
    out = plate.render_plate(EXAMPLES / f"{name}.yaml", tmp_path / f"{name}.png", dpi=DPI)
    assert out.is_file() and out.stat().st_size > 5000


def test_logistics_example_draws_the_users_layer_by_type_in_chinese():
    spec = plate.read_spec(EXAMPLES / "logistics.yaml")
    assert spec.lang == "zh" and spec.analysis.within_km == 50.0
    assert (spec.style["furniture"]["figure_width_in"], spec.style["furniture"]["figure_height_in"]) == \
        pytest.approx((297 / 25.4, 210 / 25.4))
    p = plate.build_plate(spec)
    parks = [c for c in p.ax.collections if c.get_gid() == "plate-layer-2"]
    assert len(parks) == 1 and len(parks[0].get_offsets()) == 300  # every park drawn
    legend = _legend(p)
    for t in ("陆港", "仓储区", "自由区", "铁路货站", "50 公里缓冲区", "中巴经济走廊"):
        assert any(t in x for x in legend), (t, legend)
    assert "中巴经济走廊沿线物流园区" in _texts(p)
    assert "50 公里" in _texts(p)  # the buffer's distance in the note, from the analysis
    assert len(p.insets) == 2 and "瓜达尔" in _texts(p) and "喀什" in _texts(p)


def test_graduated_example_uses_mapclassify_classes():
    import mapclassify
    import pandas as pd

    spec = plate.read_spec(EXAMPLES / "parks_capacity.yaml")
    p = plate.build_plate(spec)
    cap = pd.read_csv(EXAMPLES / "logistics_parks.csv")["capacity_kt"].to_numpy(float)
    bins = mapclassify.FisherJenks(cap, k=5).bins
    legend = _legend(p)
    assert len(legend) == 5
    assert legend[-1].endswith(f"{bins[-1]:,.0f}") or legend[-1].endswith(f"{bins[-1]:.3g}")
    assert p.kind == "regional" and "azimuthal equidistant" in " ".join(p.notes)
    assert p.fig.get_figheight() > p.fig.get_figwidth()  # A4 portrait


def test_pacific_example_is_centred_on_150e_with_clusters():
    from geocity.render import static

    spec = plate.read_spec(EXAMPLES / "pacific_clusters.yaml")
    p = plate.build_plate(spec)
    assert static._crs_lon0(p.crs) == 150.0
    assert any("Cluster" in t and "城市群" in t for t in _legend(p))


def test_plate_output_is_deterministic(tmp_path):
    a = plate.render_plate(EXAMPLES / "parks_capacity.yaml", tmp_path / "a.png", dpi=DPI)
    b = plate.render_plate(EXAMPLES / "parks_capacity.yaml", tmp_path / "b.png", dpi=DPI)
    assert a.read_bytes() == b.read_bytes()


# --------------------------------------------------------------------------
# a small plate file to break
# --------------------------------------------------------------------------
GOOD = """\
title: {en: Test, zh: 测试}
extent: {center: [30, 70], half_width_km: 800}
layers:
  - file: pts.csv
    style: {categorised: {field: kind}}
    labels: {field: name, max: 5}
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "pts.csv").write_text("name,kind,value,lat,lon\na,x,1,30,70\nb,y,2,31,71\nc,x,3,29,69\n",
                                      encoding="utf-8")
    return tmp_path


def _spec(folder: Path, text: str) -> Path:
    f = folder / "plate.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def test_small_plate_renders_and_antimeridian_bbox_is_centred_on_180(folder):
    p = plate.build_plate(plate.read_spec(_spec(folder, GOOD)))
    assert [t for t in _legend(p)] == ["pts: x", "pts: y"]
    spec = plate.read_spec(_spec(folder, GOOD.replace("{center: [30, 70], half_width_km: 800}",
                                                      "{bbox: [170, -25, -170, -10]}")))
    assert spec.extent["lon"] == pytest.approx(180.0) or spec.extent["lon"] == pytest.approx(-180.0)
    assert spec.extent["hw"] == pytest.approx(1100, rel=0.05)  # 10° of longitude at 10°S


def test_raster_layer_is_warped_onto_the_plate(folder):
    import rasterio
    from affine import Affine

    arr = np.outer(np.linspace(0, 1, 40), np.linspace(1, 0, 40)).astype("float32")
    with rasterio.open(folder / "r.tif", "w", driver="GTiff", width=40, height=40, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(0.5, 0, 60, 0, -0.5, 40), nodata=np.nan) as dst:
        dst.write(arr, 1)
    text = GOOD.replace("layers:\n", "layers:\n  - file: r.tif\n    name: surface\n")
    p = plate.build_plate(plate.read_spec(_spec(folder, text)))
    assert any(im.get_gid() == "raster" for im in p.ax.images)
    assert "surface" in _legend(p)


BAD = [
    # (replace this, with this, the message must name these)
    ("title:", "titel:", ["line 1", "'titel'", "did you mean 'title'"]),
    ("extent: {center: [30, 70], half_width_km: 800}", "extent: {center: [30, 70], half_width_km: -5}",
     ["line 2", "'extent.half_width_km'", "> 0"]),
    ("extent: {center: [30, 70], half_width_km: 800}", "extent: {center: [30, 70], bbox: [1, 2, 3, 4]}",
     ["line 2", "exactly one of center, bbox, corridor"]),
    ("extent: {center: [30, 70], half_width_km: 800}", "extent: {corridor: CPECC}", ["'extent.corridor'", "CPEC"]),
    ("file: pts.csv", "file: nope.csv", ["line 4", "'layers[0].file'", "does not exist"]),
    ("field: kind", "field: knid", ["line 5", "'layers[0].style.categorised.field'", "did you mean 'kind'"]),
    ("{categorised: {field: kind}}", "{graduated: {field: kind}}", ["'layers[0].style.graduated.field'",
                                                                     "not numeric"]),
    ("{categorised: {field: kind}}", "{graduated: {field: value, scheme: quantile}}",
     ["'layers[0].style.graduated.scheme'", "did you mean 'quantiles'"]),
    ("{categorised: {field: kind}}", "{graduated: {field: value, classes: 12}}",
     ["'layers[0].style.graduated.classes'", "2 to 9"]),
    ("{categorised: {field: kind}}", "{single: {color: notacolour}}", ["'layers[0].style.single.color'", "colour"]),
    ("{categorised: {field: kind}}", "{categorised: {field: kind, colors: {z: red}}}",
     ["'layers[0].style.categorised.colors.z'", "does not occur"]),
    ("{categorised: {field: kind}}", "{fancy: {}}", ["'layers[0].style'", "one rule"]),
    ("labels: {field: name, max: 5}", "labels: {field: nmae}", ["line 6", "'layers[0].labels.field'",
                                                                 "did you mean 'name'"]),
    ("  - file: pts.csv", "  - file: pts.csv\n    corridor: CPEC", ["'layers[0]'", "exactly one source"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\npage: {size: A5}", ["'page.size'", "A4"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\nlang: fr", ["'lang'", "en, zh, both"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\nstyle: pacifik",
     ["'style'", "did you mean 'pacific'"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\nprojection: laea",
     []),  # valid: a regional projection on a regional plate
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\nprojection: EPSG:4326",
     ["'projection'", "laea or aeqd"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\nlegend: yes please", ["'legend'", "true or false"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\ntitle: again", ["duplicate key", "'title'"]),
    ("layers:\n  - file: pts.csv", "layers:\n  - embedded: gdci_2022\n  - file: pts.csv",
     ["'layers[0].embedded'", "cities"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\ninsets: [{title: a, center: [95, 0], "
     "half_width_km: 9}]",
     ["'insets[0].center'", "[lat, lon]"]),
    ("title: {en: Test, zh: 测试}", "title: {en: Test, zh: 测试}\ninsets: [{title: a, center: [30, 70], radius: 9}]",
     ["'insets[0].radius'", "unknown key", "'insets[0].half_width_km'"]),
    ("layers:\n  - file: pts.csv", "layers:\n  - clusters: happiness\n  - file: pts.csv",
     ["'layers[0].clusters'", "composite"]),
]


@pytest.mark.parametrize("old,new,needles", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_plate_files_name_line_and_key(folder, old, new, needles):
    assert old in GOOD
    spec = _spec(folder, GOOD.replace(old, new))
    if not needles:
        plate.read_spec(spec)
        return
    with pytest.raises(ValidationError) as exc:
        plate.render_plate(spec, folder / "out.png", dpi=DPI)
    msg = str(exc.value)
    assert "plate.yaml" in msg
    for n in needles:
        assert n in msg, (n, msg)
    assert not (folder / "out.png").exists()


def test_every_problem_at_once(folder):
    spec = _spec(folder, GOOD.replace("title:", "titel:").replace("field: kind", "field: knid"))
    with pytest.raises(ValidationError) as exc:
        plate.read_spec(spec)
    msg = str(exc.value)
    assert "'titel'" in msg and "knid" in msg and "'title': missing" in msg


def test_empty_layer_and_layer_without_crs(folder):
    (folder / "empty.csv").write_text("name,kind,lat,lon\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"line 4.*layers\[0\]\.file"):
        plate.read_spec(_spec(folder, GOOD.replace("pts.csv", "empty.csv")))
    gdf = gpd.GeoDataFrame({"name": ["a"], "kind": ["x"]}, geometry=[Point(70, 30)], crs=None)
    import warnings

    with warnings.catch_warnings():  # geopandas warns about writing without a CRS: that is the point
        warnings.simplefilter("ignore")
        gdf.to_file(folder / "nocrs.gpkg", driver="GPKG")
    with pytest.raises(ValidationError) as exc:
        plate.read_spec(_spec(folder, GOOD.replace("pts.csv", "nocrs.gpkg")))
    assert "no CRS" in str(exc.value) and "'layers[0].file'" in str(exc.value)


def test_not_yaml_missing_file_and_not_a_mapping(folder):
    with pytest.raises(ValidationError, match="line 2.*not valid YAML"):
        plate.read_spec(_spec(folder, "title: x\n  extent: [\n"))
    with pytest.raises(NotFoundError, match="does not exist"):
        plate.read_spec(folder / "missing.yaml")
    with pytest.raises(ValidationError, match="must hold a mapping"):
        plate.read_spec(_spec(folder, "- a\n- b\n"))


def test_cli_plate(folder):
    runner = CliRunner()
    spec = _spec(folder, GOOD)
    out = folder / "p.pdf"
    r = runner.invoke(cli, ["plate", str(spec), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"%PDF")
    r = runner.invoke(cli, ["plate", str(spec), "-o", str(out)])
    assert r.exit_code == 1 and "--overwrite" in r.output
    r = runner.invoke(cli, ["plate", str(spec), "-o", str(folder / "p.jpg")])
    assert r.exit_code == 1 and ".png" in r.output and not (folder / "p.jpg").exists()
    r = runner.invoke(cli, ["plate", str(_spec(folder, GOOD.replace("kind", "knid", 1))), "-o", str(folder / "q.png")])
    assert r.exit_code == 1 and "line 5" in r.output and "Traceback" not in r.output
    assert not (folder / "q.png").exists()
    r = runner.invoke(cli, ["plate", str(spec), "-o", str(folder / "s.png"), "--style", "pacifik"])
    assert r.exit_code == 1 and "pacific" in r.output and not (folder / "s.png").exists()


def test_existing_output_is_refused_before_drawing(folder, monkeypatch):
    out = folder / "p.png"
    out.write_bytes(b"mine")
    monkeypatch.setattr(plate, "build_plate", lambda spec: pytest.fail("drew before refusing"))
    with pytest.raises(OutputExistsError):
        plate.render_plate(_spec(folder, GOOD), out)
    assert out.read_bytes() == b"mine"


def test_dollar_signs_in_plate_text_are_drawn_as_written(folder, tmp_path):
    """A ``$`` pair in a title, a layer name, a label or a category is a
    dollar sign, not matplotlib mathtext (which garbled the text, or failed
    with a raw parser error when the plate was written)."""
    (folder / "fees.csv").write_text("name,kind,lat,lon\n$\\frac$ park,$5_a$,30,70\nb,$x$,31,71\n",
                                     encoding="utf-8")
    spec = _spec(folder, """
title: 'Fees $5_a and $\\frac$'
extent: {center: [30.5, 70.5], half_width_km: 300}
layers:
  - file: fees.csv
    name: 'Parks $x$'
    style: {categorised: {field: kind}}
    labels: {field: name}
""")
    p = plate.build_plate(plate.read_spec(spec))
    texts = _texts(p)
    assert "Fees $5_a and $\\frac$" in texts and "$\\frac$ park" in texts
    assert "Parks $x$: $5_a$" in _legend(p)
    out = plate.render_plate(spec, tmp_path / "fees.png", dpi=DPI)
    assert out.is_file()

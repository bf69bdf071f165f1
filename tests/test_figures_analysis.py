"""The plates draw one :class:`geocity.analysis.Analysis` and compute nothing
themselves: its ``within_km``, its fitted clusters, its provenance labels,
its density and links (issue 12, parts 1 and 6)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from geocity import figures
from geocity.analysis import Analysis
from geocity.errors import ValidationError
from geocity.render import static

DPI = 20


def _texts(plate) -> str:
    """Every text drawn on the plate: title, subtitle, legends, labels, notes, insets."""
    return "\n".join(t.get_text() for t in plate.fig.findobj(lambda a: hasattr(a, "get_text")))


def _note(plate) -> str:
    return " ".join(t.get_text() for t in plate.fig.texts if t.get_gid() == "note")


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)  # the note wraps long lines at spaces (or between CJK glyphs)


@pytest.fixture
def drawn(monkeypatch):
    """The lon/lat geometries every ``Plate.add_polygons`` call was given, by gid."""
    got: dict[str, list] = {}
    orig = static.Plate.add_polygons

    def spy(self, geoms, **kw):
        geoms = list(geoms)
        got.setdefault(kw.get("gid"), []).extend(geoms)
        return orig(self, geoms, **kw)

    monkeypatch.setattr(static.Plate, "add_polygons", spy)
    return got


# --------------------------------------------------------------------------
# corridor distance: the analysis' within_km on every plate, in text and drawing
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name,corridors", [("3-2", ["CMREC", "CICPEC", "CPEC"]), ("corridor-cpec", ["CPEC"])])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_within_km_50_is_what_the_plate_says_and_draws(name, corridors, lang, drawn):
    a = Analysis(within_km=50)
    plate = figures.build(name, analysis=a, lang=lang)
    text = _texts(plate)
    assert "100 km" not in text and "100 公里" not in text
    unit = "km" if lang == "en" else "公里"
    assert text.count(f"50 {unit}") >= 3, text  # subtitle, legend, corridor credit
    assert f"50 {unit}" in _note(plate)
    # the buffers drawn are the analysis' 50 km buffers, nothing else
    key = "corridor-buffers" if name == "3-2" else "corridor-buffer"
    want = a.corridor_buffers(corridors)
    assert (want["within_km"] == 50.0).all()
    got = drawn[key]
    assert len(got) == len(want)
    by_name = dict(zip(want["corridor"], want.geometry, strict=True))
    for c, g in zip(corridors, got, strict=True):
        assert g.equals(by_name[c]), c
    wide = Analysis().corridor_buffers(corridors)  # the default 100 km ones are wider
    wide = dict(zip(wide["corridor"], wide.geometry, strict=True))
    assert all(g.area < wide[c].area for c, g in zip(corridors, got, strict=True))


def test_corridor_plate_members_are_the_analysis_members():
    a = Analysis(within_km=50)
    plate = figures.build("corridor-cicpec", analysis=a)
    mem = a.corridor_members("CICPEC")
    n = sum(len(c.get_offsets()) for c in plate.ax.collections if c.get_gid() in ("members", "members-ranked"))
    assert n == len(mem) > 0
    assert f"{len(mem)} member cities of CICPEC" in _note(plate)
    assert len(mem) < len(Analysis().corridor_members("CICPEC"))  # 20 at 50 km, 25 at 100 km


# --------------------------------------------------------------------------
# clusters: the analysis' fit, once per score for a whole render run
# --------------------------------------------------------------------------
def test_cluster_plates_draw_the_analysis_clusters_fitted_once(tmp_path, monkeypatch, drawn):
    from geocity.cluster import CityClusters

    calls: list[str] = []
    fit = CityClusters.fit

    def counting(self, *args, **kw):
        calls.append(self.score)
        return fit(self, *args, **kw)

    monkeypatch.setattr(CityClusters, "fit", counting)
    a = Analysis(eps_km=400)
    out = figures.render_all(tmp_path, names=["2-3", "2-5"], lang="en,zh", analysis=a, dpi=DPI)
    assert len(out) == 4
    assert sorted(calls) == ["composite", "innovation"]  # one fit per score for four plates
    # a second build draws exactly the analysis' clusters, with its parameters, and fits nothing
    drawn.clear()
    plate = figures.build("2-3", analysis=a)
    assert sorted(calls) == ["composite", "innovation"]
    cl = a.clusters("composite").clusters_
    assert len(drawn["clusters"]) == len(cl)
    assert all(g.equals(w) for g, w in zip(drawn["clusters"], cl.geometry, strict=True))
    poles = a.clusters("composite").members_
    n_poles = sum(len(c.get_offsets()) for c in plate.ax.collections if c.get_gid() == "poles")
    assert n_poles == int(poles["is_pole"].astype(bool).sum())
    assert f"{len(cl)} clusters; eps 400 km" in _note(plate)


# --------------------------------------------------------------------------
# provenance: one rule for every proxy/user label on a plate
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def partial_scores(tmp_path_factory):
    from geocity import layers

    ids = layers.load("cities")["city_id"].iloc[:20]
    p = tmp_path_factory.mktemp("scores") / "my_scores.csv"
    pd.DataFrame({"city_id": ids, "innovation": np.linspace(1, 0.2, len(ids)), "industry": 0.5,
                  "infrastructure": np.linspace(0.1, 0.9, len(ids))}).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("name", ["2-1", "2-3", "2-6", "2-11"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_partial_user_scores_credits_say_the_provenance_label(partial_scores, name, lang):
    a = Analysis(scores=partial_scores)
    prov = a.provenance
    assert prov.kind == "user-partial" and not prov.proxy and prov.n_user == 20
    plate = figures.build(name, analysis=a, lang=lang)
    note = _note(plate)
    assert _flat(prov.label(lang)) in _flat(note), note
    assert "my_scores.csv" in note
    assert "PROX" not in note and "代理值" not in note  # no proxy line on user scores
    if name in ("2-6", "2-11"):  # the landscape's own "user-supplied" tags say partial, too
        assert prov.tag(lang) in _texts(plate)


def test_index_chart_stays_a_proxy_with_user_scores(partial_scores):
    """Figure 3-1 draws the BRI index, of which the report publishes ranks only:
    its bars are rank proxies whatever the scores table."""
    plate = figures.build("3-1", analysis=Analysis(scores=partial_scores))
    assert "PROXIES" in _note(plate) and "PROXY" in plate.ax.get_xlabel()


# --------------------------------------------------------------------------
# nothing computed by a recipe
# --------------------------------------------------------------------------
WARM = ["2-3", "2-5", "2-4", "2-6", "2-11", "3-2", "corridor-cpec", "table-2-1"]


def test_recipes_compute_nothing_once_the_analysis_is_warm(tmp_path, monkeypatch):
    from geocity import corridors, density, layers, network, scores
    from geocity.cluster import CityClusters

    a = Analysis()
    first = figures.render_all(tmp_path / "a", names=WARM, analysis=a, dpi=DPI)

    def boom(*args, **kw):
        raise AssertionError("a recipe computed an analysis result itself")

    for mod, attr in ((density, "density"), (network, "gravity_links"), (corridors, "members"),
                      (corridors, "buffer"), (corridors, "lines"), (CityClusters, "fit"),
                      (scores, "city_scores"), (layers, "cities_with_ranks")):
        monkeypatch.setattr(mod, attr, boom)
    second = figures.render_all(tmp_path / "b", names=WARM, analysis=a, dpi=DPI)
    assert [p.name for p in first] == [p.name for p in second]
    for x, y in zip(first, second, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name


def test_old_keywords_build_the_same_plates(tmp_path):
    """``scores=`` / ``basemap=`` without ``analysis`` mean ``Analysis(scores=, basemap=)``: same bytes."""
    a = figures.render("2-5", tmp_path / "a", dpi=DPI)
    b = figures.render("2-5", tmp_path / "b", dpi=DPI, analysis=Analysis())
    assert a[0].read_bytes() == b[0].read_bytes()


def test_analysis_and_old_keywords_together_are_refused(tmp_path, partial_scores):
    with pytest.raises(ValidationError, match="either analysis= or scores="):
        figures.render("2-1", tmp_path / "o", analysis=Analysis(), scores=partial_scores)
    with pytest.raises(ValidationError, match="Analysis"):
        figures.build("2-1", analysis={"within_km": 50})
    with pytest.raises(ValidationError, match="within_km"):  # the analysis' own check, before any output
        figures.render_all(tmp_path / "o", names=["3-2"], analysis=Analysis(within_km=-1))
    assert not (tmp_path / "o").exists()


def test_a_plate_needs_its_corridors_in_the_analysis():
    from geocity.errors import NotFoundError

    with pytest.raises(NotFoundError, match="leaves out"):
        figures.build("corridor-cpec", analysis=Analysis(corridors=["CMREC"]))

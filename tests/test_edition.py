"""Editions (issue 17, item 2): a folder of one year's rankings, validated
with file/line errors; the embedded 2022 report is one; ``reproduce
--edition DIR`` builds that year's products."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from geocity import edition, figures, layers, pipeline
from geocity.analysis import Analysis
from geocity.cli.main import cli
from geocity.errors import NotFoundError, ValidationError


def _make(folder: Path, *, yaml: str | None = None) -> Path:
    """A 2023 edition: ranks 1 and 2 swapped, rank 3 given by name, rank 100
    a city new to the list (Toulouse, by name), no change column (computed
    from the 2022 edition), BRI and dimension tables as in 2022."""
    folder.mkdir(parents=True, exist_ok=True)
    g = layers.load("gdci_2022").drop(columns=["change"])
    g["rank"] = g["rank"].replace({1: 2, 2: 1})
    g["city_id"] = g["city_id"].astype(object)
    g["name"] = ""
    g.loc[g["rank"] == 3, ["city_id", "name"]] = ["", "Beijing"]
    g.loc[g["rank"] == 100, ["city_id", "name"]] = ["", "Toulouse"]
    g.sort_values("rank")[["rank", "city_id", "name"]].to_csv(folder / "gdci.csv", index=False)
    layers.load("bri_2022").to_csv(folder / "bri.csv", index=False)
    layers.load("dimension_ranks").to_csv(folder / "dimension_ranks.csv", index=False)
    (folder / "edition.yaml").write_text(yaml or "year: 2023\ntitle_en: Test edition 2023\ntitle_zh: 测试版 2023\n"
                                                 "previous: report-2022\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def ed2023(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("ed") / "my_2023")


def test_the_report_is_an_edition_and_gives_the_same_layers():
    e = edition.report_edition()
    assert e.year == 2022 and e.change_source == {"gdci": "report", "bri": "report"}
    pd.testing.assert_frame_equal(e.cities_with_ranks(), layers.cities_with_ranks())
    pd.testing.assert_frame_equal(e.dimension_ranks, layers.load("dimension_ranks"))
    a, b = Analysis(edition=e), Analysis()
    pd.testing.assert_frame_equal(a.scored(), b.scored())  # the main job's results are the report's


def test_an_edition_resolves_names_adds_new_cities_and_computes_changes(ed2023):
    e = edition.read_edition(ed2023)
    assert e.year == 2023 and e.previous_year == 2022
    assert e.change_source == {"gdci": "computed from 2022", "bri": "report"}
    g = e.gdci.set_index("city_id")
    assert g.loc["shanghai-cn", "change"] == "up" and g.loc["tokyo-jp", "change"] == "down"
    assert g.loc["beijing-cn", "rank"] == 3 and g.loc["beijing-cn", "change"] == "same"  # by name, geocoded
    new = [c for c in g.index if c.startswith("toulouse")]
    assert len(new) == 1 and g.loc[new[0], "change"] == "new"
    assert list(e.new_cities["city_id"]) == new and "toulouse" in e.notes[0]
    assert e.geocoding is not None and set(e.geocoding["name"]) == {"Beijing", "Toulouse"}
    cities = e.cities_with_ranks()
    assert cities["edition_new"].sum() == 1 and len(cities) == len(layers.load("cities")) + 1
    assert int(cities.loc[cities["city_id"] == new[0], "gdci_rank"].iloc[0]) == 100


def test_edition_figures_say_the_year_and_draw_its_ranks(ed2023):
    a = Analysis(edition=ed2023)
    assert a.year == 2023 and a.previous_year == 2022
    p = figures.build("2-2", analysis=a)
    texts = "\n".join(t.get_text() for t in p.fig.findobj(lambda x: hasattr(x, "get_text")))
    assert "Index 2023" in texts and "since 2022" in texts and "2022→2023" in texts
    assert "Test edition 2023" in texts and "toulouse" in texts
    chart = figures.build("2-1", analysis=a)
    labels = [t.get_text() for t in chart.ax.get_yticklabels()]
    assert labels[0].startswith("1") and "Shanghai" in labels[0]


def test_reproduce_edition_writes_its_tables_and_records(ed2023, tmp_path):
    out = tmp_path / "out2023"
    pipeline.reproduce(out, steps=["layers", "network"], edition=ed2023)
    folder = out / "layers" / "edition_2023"
    assert (folder / "gdci.csv").is_file() and (folder / "geocoding.csv").is_file()
    rec = json.loads((out / "network" / "composite_links.gpkg.meta.json").read_text())["params"]
    assert rec["edition_year"] == 2023 and rec["edition_new_cities"][0].startswith("toulouse")


BAD = [
    ("year: 2023", "year: twenty", ["edition.yaml", "line 1", "'year'"]),
    ("year: 2023", "year: 2023\nyaer: 2023", ["'yaer'", "did you mean 'year'"]),
    ("previous: report-2022", "previous: nowhere", ["'previous'", "does not exist"]),
]


@pytest.mark.parametrize("old,new,needles", BAD)
def test_bad_descriptor(tmp_path, old, new, needles):
    text = "year: 2023\ntitle_en: T\nprevious: report-2022\n".replace(old, new)
    folder = _make(tmp_path / "e", yaml=text)
    with pytest.raises(ValidationError) as exc:
        edition.read_edition(folder)
    for n in needles:
        assert n in str(exc.value), (n, str(exc.value))


def test_bad_tables_name_file_and_line(tmp_path):
    folder = _make(tmp_path / "e")
    g = pd.read_csv(folder / "gdci.csv", dtype=str, keep_default_na=False)
    g.loc[4, "city_id"] = "tokio-jp"  # line 6
    g.loc[7, "rank"] = "eight"  # line 9
    g.loc[9, ["city_id", "name"]] = ["", "Santiago"]  # line 11: ambiguous
    g.to_csv(folder / "gdci.csv", index=False)
    b = pd.read_csv(folder / "bri.csv", dtype=str, keep_default_na=False)
    b.loc[0, "change"] = "sideways"  # line 2
    b.to_csv(folder / "bri.csv", index=False)
    (folder / "dimension_ranks.csv").write_text("table,rank,city_id\n2-1,1,beijing-cn\n", encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        edition.read_edition(folder)
    msg = str(exc.value)
    for n in ("gdci.csv, line 6: unknown city_id 'tokio-jp'; did you mean 'tokyo-jp'",
              "gdci.csv, line(s) 9: rank must be a whole number", "gdci.csv, line 11: name 'Santiago' is ambiguous",
              "bri.csv, line(s) 2: change must be one of up, down, same, new",
              "dimension_ranks.csv: missing column(s) dimension"):
        assert n in msg, (n, msg)


def test_missing_folder_descriptor_and_table(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        edition.read_edition(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="edition.yaml"):
        edition.read_edition(tmp_path / "empty")
    folder = _make(tmp_path / "e")
    (folder / "bri.csv").unlink()
    with pytest.raises(ValidationError, match="'bri.csv' not found"):
        edition.read_edition(folder)


def test_cli_reproduce_bad_edition_writes_nothing(tmp_path):
    folder = _make(tmp_path / "e", yaml="year: 1066\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["reproduce", "-o", str(out), "--edition", str(folder)])
    assert r.exit_code == 1 and "'year'" in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_edition_web_map_popups_name_its_year(ed2023):
    """The web map's city popups name the edition's year, not the report's."""
    from geocity.render import leaflet

    m = leaflet.webmap(Analysis(edition=ed2023), layers=["cities"], tiles=None)
    html = m.get_root().render()
    assert "GDCI 2023 rank" in html and "GDCI 2022 rank" not in html
    assert "BRI potential 2023 rank" in html
    report = leaflet.webmap(Analysis(), layers=["cities"], tiles=None).get_root().render()
    assert "GDCI 2022 rank" in report

"""``--style NAME|FILE`` on figures, webmap and reproduce (issue 17, item 4):
a style sheet layered over geocity's own (the base and each figure's file),
checked before anything is written."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from geocity import figures, pipeline
from geocity.cli.main import cli
from geocity.errors import NotFoundError, ValidationError
from geocity.render import static


@pytest.fixture
def runner():
    return CliRunner()


def test_pacific_style_on_a_figure_keeps_the_figures_own_style():
    plate = figures.build("table-2-6", lang="en", style="pacific")
    assert static._crs_lon0(plate.crs) == 150.0
    # a figure's own file still applies under a user style (the CPEC plate stays portrait)
    st = figures._style_for("corridor-cpec", "pacific")
    assert st["furniture"]["figure_width_in"] == 7.5
    assert "150" in st["projection"]["world"]
    assert figures._style_for("corridor-cpec", None)["projection"]["world"] == "EPSG:8857"


def test_a_user_style_file_overrides_only_its_keys(tmp_path):
    f = tmp_path / "house.yaml"
    f.write_text("colors:\n  land: '#ddeedd'\n", encoding="utf-8")
    st = figures._style_for("2-3", f)
    assert st["colors"]["land"] == "#ddeedd"
    assert st["projection"]["world"] == "EPSG:8857"


@pytest.mark.parametrize("bad,needle", [
    ("pacifik", "did you mean 'pacific'"),
    ("missing.yaml", "does not exist"),
])
def test_unknown_style_is_refused_before_writing(tmp_path, bad, needle):
    out = tmp_path / "out"
    with pytest.raises(NotFoundError, match=needle):
        figures.render_all(out, names=["table-2-6"], style=bad)
    assert not out.exists()


def test_cli_figures_style(runner, tmp_path):
    out = tmp_path / "f"
    r = runner.invoke(cli, ["figures", "table-2-6", "-o", str(out), "--lang", "en", "--dpi", "20", "-q",
                            "--style", "pacific"])
    assert r.exit_code == 0, r.output
    assert (out / "table-2-6_en.png").is_file()


def test_cli_bad_style_file_names_file_line_and_key_and_writes_nothing(runner, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("colors:\n  land: '#eeeeee'\n  lnad: red\n", encoding="utf-8")
    for args in (["figures", "table-2-6", "-o", str(tmp_path / "f"), "--style", str(f)],
                 ["reproduce", "-o", str(tmp_path / "r"), "--style", str(f)],
                 ["webmap", "-o", str(tmp_path / "m.html"), "--style", str(f), "--layers", "cities"]):
        r = runner.invoke(cli, args)
        assert r.exit_code == 1, (args, r.output)
        assert "lnad" in r.output and "bad.yaml, line 3" in r.output and "did you mean 'land'" in r.output
    assert not any(tmp_path.glob("f")) and not (tmp_path / "r").exists() and not (tmp_path / "m.html").exists()


def test_reproduce_hands_the_style_to_the_plates_and_the_map(tmp_path, monkeypatch):
    got = {}

    def fake_render_all(out_dir, **kw):
        got["figures"] = kw.get("style")
        return []

    def fake_webmap(**kw):
        got["webmap"] = kw.get("style")
        raise SystemExit  # stop before the map is computed

    monkeypatch.setattr(figures, "render_all", fake_render_all)
    pipeline.reproduce(tmp_path / "a", steps=["figures"], style="pacific")
    assert got["figures"] == "pacific"
    from geocity.render import leaflet

    monkeypatch.setattr(leaflet, "webmap", fake_webmap)
    with pytest.raises(SystemExit):
        pipeline.reproduce(tmp_path / "b", steps=["webmap"], style="pacific")
    assert "150" in got["webmap"]["projection"]["world"]


def test_cli_webmap_style_colours_the_map(runner, tmp_path):
    f = tmp_path / "house.yaml"
    f.write_text("palettes:\n  regions:\n    Asia: '#123456'\n    other: '#7f7f7f'\n", encoding="utf-8")
    out = tmp_path / "m.html"
    r = runner.invoke(cli, ["webmap", "-o", str(out), "--layers", "cities", "--tiles", "none", "--style", str(f)])
    assert r.exit_code == 0, r.output
    assert "#123456" in out.read_text(encoding="utf-8")


def test_style_path_refuses_non_strings():
    from geocity.styles import style_path

    with pytest.raises(ValidationError):
        style_path(3)
    assert style_path("pacific").name == "pacific.yaml"

"""Style sheets: loading, merging, validation messages, shared getters."""

from __future__ import annotations

import pytest

from geocity import styles
from geocity.errors import NotFoundError, ValidationError


def test_base_style_loads_and_getters():
    st = styles.load_style()
    assert set(st) >= {"fonts", "colors", "palettes", "symbols", "lines", "labels", "furniture", "projection", "output"}
    rc = styles.region_colors(st)
    assert {"Asia", "Europe", "America", "Africa", "Oceania", "other"} <= set(rc)
    assert styles.region_color("Atlantis", st) == rc["other"]
    assert len(styles.cluster_colors(st)) >= 2
    assert set(styles.change_symbols(st)) == {"up", "down", "same", "new"}
    assert {"CMREC", "CICPEC", "CPEC"} <= set(styles.corridor_colors(st))
    assert styles.font_families(st)["zh"] == "Noto Sans CJK SC"
    assert styles.symbol_sizes(st)["city_size_max"] > styles.symbol_sizes(st)["city_size_min"]
    assert styles.line_widths(st)["corridor"] > 0
    assert "other" in styles.typology_colors(st)
    assert len(styles.sequential_colors(st)) >= 2


def test_getters_accept_a_name():
    assert styles.region_colors("base") == styles.region_colors()


def test_every_embedded_style_is_valid():
    names = styles.available_styles()
    assert "base" in names
    for name in names:
        styles.load_style(name)


def test_per_figure_override_changes_only_its_keys():
    base = styles.load_style()
    fig = styles.load_style("fig-corridor-cpec")
    assert fig["furniture"]["figure_height_in"] != base["furniture"]["figure_height_in"]
    assert fig["palettes"] == base["palettes"]
    assert fig["furniture"]["title_xy"] == base["furniture"]["title_xy"]


def test_overrides_mapping_and_file(tmp_path):
    st = styles.load_style(overrides={"colors": {"land": "#eeeeee"}, "palettes": {"regions": {"Antarctica": "white"}}})
    assert st["colors"]["land"] == "#eeeeee"
    assert st["palettes"]["regions"]["Antarctica"] == "white"
    assert st["palettes"]["regions"]["Asia"] == styles.load_style()["palettes"]["regions"]["Asia"]
    p = tmp_path / "mine.yaml"
    p.write_text("symbols:\n  city_size_max: 200\n", encoding="utf-8")
    assert styles.load_style(overrides=p)["symbols"]["city_size_max"] == 200
    assert styles.load_style(p)["symbols"]["city_size_max"] == 200
    # the result is a fresh copy
    st["colors"]["land"] = "red"
    assert styles.load_style()["colors"]["land"] != "red"


def test_typo_in_key_names_file_line_and_suggestion(tmp_path):
    p = tmp_path / "typo.yaml"
    p.write_text("colors:\n  text: black\n  lnad: red\n", encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        styles.load_style(p)
    msg = str(e.value)
    assert "colors.lnad" in msg and "typo.yaml, line 3" in msg and "did you mean 'land'" in msg


def test_unknown_section(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("colours:\n  land: red\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="colours.*did you mean 'colors'"):
        styles.load_style(p)


@pytest.mark.parametrize(
    "yaml_text, needle",
    [
        ("colors:\n  land: notacolour\n", "colors.land"),
        ("symbols:\n  alpha: 2\n", "symbols.alpha"),
        ("symbols:\n  city_size_max: big\n", "symbols.city_size_max"),
        ("palettes:\n  change:\n    up: {marker: 'q'}\n", "palettes.change.up.marker"),
        ("furniture:\n  map_box: [0, 0, 1]\n", "furniture.map_box"),
        ("furniture:\n  legend_loc: lower lefft\n", "did you mean 'lower left'"),
        ("projection:\n  world: EPSG:99999999\n", "projection.world"),
        ("output:\n  formats: [png, gif]\n", "output.formats"),
        ("labels:\n  max_rank: 2.5\n", "labels.max_rank"),
        ("palettes:\n  clusters: ['#000000']\n", "palettes.clusters"),
    ],
)
def test_bad_values(tmp_path, yaml_text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        styles.load_style(p)
    assert needle in str(e.value)
    assert "bad.yaml" in str(e.value) or "did you mean" in str(e.value)


def test_all_problems_in_one_message(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("colors:\n  land: nope\nsymbols:\n  alpha: 5\n", encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        styles.load_style(p)
    assert "colors.land" in str(e.value) and "symbols.alpha" in str(e.value)


def test_invalid_yaml_and_duplicates(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("colors:\n  land: [red\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid YAML"):
        styles.load_style(p)
    d = tmp_path / "dup.yaml"
    d.write_text("colors:\n  land: red\n  land: blue\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="duplicate key.*colors.land"):
        styles.load_style(d)
    s = tmp_path / "scalar.yaml"
    s.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="mapping"):
        styles.load_style(s)


def test_unknown_style_name_lists_valid_ones():
    with pytest.raises(NotFoundError) as e:
        styles.load_style("fig-nope")
    assert "base" in str(e.value)
    with pytest.raises(NotFoundError):
        styles.load_style(overrides="/no/such/file.yaml")
    with pytest.raises(ValidationError):
        styles.load_style(overrides=42)


def test_validate_style_direct():
    st = styles.load_style()
    st["lines"]["corridor"] = -1
    with pytest.raises(ValidationError, match="lines.corridor"):
        styles.validate_style(st)
    st = styles.load_style()
    st["projection"]["world_lat_min"] = 50
    st["projection"]["world_lat_max"] = 10
    with pytest.raises(ValidationError, match="world_lat_min"):
        styles.validate_style(st)

"""Tests of geocity.scores: rank proxies and user score tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geocity import scores
from geocity.errors import GeocityError, NotFoundError, ValidationError


def _cities():
    df = pd.DataFrame(
        {
            "city_id": ["tokyo-jp", "dallas-us", "houston-us", "seattle-us", "ningbo-cn"],
            "name_en": ["Tokyo", "Dallas", "Houston", "Seattle", "Ningbo"],
            "name_zh": ["东京", "达拉斯", "休斯敦", "西雅图", "宁波"],
            "lat": [35.69, 32.78, 29.76, 47.61, 29.87],
            "lon": [139.69, -96.81, -95.36, -122.33, 121.54],
        }
    )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")


GDCI = pd.DataFrame({"rank": [1, 28, 55, 70], "city_id": ["tokyo-jp", "seattle-us", "ningbo-cn", "dallas-us"]})
DIMS = pd.DataFrame(
    {
        "table": ["Table 2-3", "Table 2-6", "Table 2-7", "Table 2-8", "Table 2-8", "Table 2-8"],
        "dimension": ["", "", "", "Global Innovation Network", "Global Connectivity Facility Network",
                      "Global Production and Service Network"],
        "rank": [2, 4, 3, 10, 6, 2],
        "city_id": ["seattle-us", "dallas-us", "ningbo-cn", "seattle-us", "ningbo-cn", "tokyo-jp"],
    }
)


def test_rank_score_transform():
    s = scores.rank_score([1, 4, 25, 100, np.nan])
    np.testing.assert_allclose(s[:4], [1.0, 0.5, 0.2, 0.1])
    assert s[4] == pytest.approx(scores.BASE_SCORE)
    assert scores.BASE_SCORE == pytest.approx(308.5 ** -0.5)  # middle of the unranked ranks 101..516
    assert scores.BASE_SCORE < scores.rank_score([100])[0]


def test_rank_proxy_scores_by_dimension():
    ids = _cities()["city_id"]
    sc = scores.rank_proxy_scores(ids, gdci=GDCI, dimension_ranks=DIMS)
    b = scores.BASE_SCORE
    t = scores.rank_score
    # Tokyo: GDCI 1 everywhere
    assert sc.loc["tokyo-jp", ["innovation", "industry", "infrastructure"]].tolist() == [1.0, 1.0, 1.0]
    # Seattle: innovation from Table 2-3 rank 2 (beats 2-8 rank 10 and GDCI 28)
    assert sc.loc["seattle-us", "innovation"] == pytest.approx(t([2])[0])
    assert sc.loc["seattle-us", "industry"] == pytest.approx(t([28])[0])
    # Dallas: infrastructure from the airline table (2-6 rank 4)
    assert sc.loc["dallas-us", "infrastructure"] == pytest.approx(0.5)
    assert sc.loc["dallas-us", "innovation"] == pytest.approx(t([70])[0])
    # Ningbo: maritime 2-7 rank 3 beats Table 2-8 connectivity rank 6
    assert sc.loc["ningbo-cn", "infrastructure"] == pytest.approx(t([3])[0])
    # Houston: unranked -> base everywhere
    houston = sc.loc["houston-us", ["innovation", "industry", "infrastructure", "composite"]]
    assert houston.tolist() == pytest.approx([b] * 4)
    assert (sc["score_source"] == "rank-proxy").all()
    assert sc[["innovation", "industry", "infrastructure", "composite"]].le(1).all().all()
    assert sc[["innovation", "industry", "infrastructure", "composite"]].gt(0).all().all()
    row = sc.loc["dallas-us"]
    assert row["composite"] == pytest.approx((row.innovation + row.industry + row.infrastructure) / 3)


def test_composite_weights():
    ids = _cities()["city_id"]
    sc = scores.rank_proxy_scores(ids, gdci=GDCI, dimension_ranks=DIMS, weights=(0, 0, 1))
    np.testing.assert_allclose(sc["composite"], sc["infrastructure"])
    with pytest.raises(ValidationError, match="weights"):
        scores.rank_proxy_scores(ids, gdci=GDCI, dimension_ranks=DIMS, weights=(1, -1, 1))
    with pytest.raises(ValidationError, match="weights"):
        scores.rank_proxy_scores(ids, gdci=GDCI, dimension_ranks=DIMS, weights=(0, 0, 0))


def test_user_scores_from_dataframe_and_csv(tmp_path):
    cities = _cities()
    user = pd.DataFrame(
        {
            "city_id": ["tokyo-jp", "dallas-us", "houston-us", "seattle-us", "ningbo-cn"],
            "Innovation": [90, 40, 30, 80, 20],
            "industry": [0.9, 0.5, 0.6, 0.7, 0.4],
            "infrastructure": [1.0, 0.8, 0.7, 0.6, 0.9],
        }
    )
    out = scores.city_scores(cities, source=user)
    from geocity import provenance

    prov = provenance.of_frame(out)
    assert prov.proxy is False and prov.kind == "user" and "proxy" not in out.attrs  # no pandas attrs
    assert (out["score_source"] == "user").all()
    # a column beyond 1 is divided by its maximum
    np.testing.assert_allclose(out["innovation"], [1.0, 40 / 90, 30 / 90, 80 / 90, 20 / 90])
    np.testing.assert_allclose(
        out["composite"], (out["innovation"] + out["industry"] + out["infrastructure"]) / 3
    )
    assert isinstance(out, gpd.GeoDataFrame) and out.crs is not None
    p = tmp_path / "s.csv"
    user.to_csv(p, index=False, encoding="utf-8")
    out2 = scores.city_scores(cities, source=p)
    pd.testing.assert_frame_equal(pd.DataFrame(out.drop(columns="geometry")),
                                  pd.DataFrame(out2.drop(columns="geometry")))


def test_user_composite_only_and_missing_cities():
    cities = _cities()
    user = pd.DataFrame({"city_id": ["tokyo-jp", "dallas-us"], "composite": [1.0, 0.4]})
    out = scores.city_scores(cities, source=user).set_index("city_id")
    assert out.loc["tokyo-jp", "composite"] == 1.0
    assert np.isnan(out.loc["tokyo-jp", "innovation"])
    assert out.loc["houston-us", "composite"] == 0.0
    assert out.loc["houston-us", "score_source"] == "user-missing"


@pytest.mark.parametrize(
    "table,match",
    [
        (pd.DataFrame({"city_id": ["tokio-jp"], "composite": [1.0]}), "unknown city_id.*tokyo-jp"),
        (pd.DataFrame({"city_id": ["tokyo-jp"], "gdp": [1.0]}), "none of the score columns"),
        (pd.DataFrame({"place": ["tokyo-jp"], "composite": [1.0]}), "no city_id"),
        (pd.DataFrame({"city_id": ["tokyo-jp", "dallas-us"], "composite": [1.0, np.nan]}), "missing.*dallas-us"),
        (pd.DataFrame({"city_id": ["tokyo-jp", "dallas-us"], "composite": [1.0, -0.2]}), "negative.*dallas-us"),
        (pd.DataFrame({"city_id": ["tokyo-jp", "tokyo-jp"], "composite": [1.0, 0.2]}), "duplicate"),
        (pd.DataFrame({"city_id": ["tokyo-jp"], "composite": ["high"]}), "non-numeric"),
        (pd.DataFrame({"city_id": pd.Series([], dtype=str), "composite": pd.Series([], dtype=float)}), "empty"),
    ],
)
def test_user_scores_bad_tables(table, match):
    with pytest.raises(ValidationError, match=match):
        scores.city_scores(_cities(), source=table)


def test_user_scores_gathers_problems():
    table = pd.DataFrame({"city_id": ["nowhere-xx", "dallas-us"], "composite": [1.0, -1.0]})
    with pytest.raises(GeocityError) as exc:
        scores.city_scores(_cities(), source=table)
    assert "unknown" in str(exc.value) and "negative" in str(exc.value)


def test_user_scores_bad_sources(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        scores.city_scores(_cities(), source=tmp_path / "nope.csv")
    with pytest.raises(ValidationError, match="CSV path or a pandas DataFrame"):
        scores.city_scores(_cities(), source=42)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage\x00\x00")
    with pytest.raises(GeocityError):
        scores.city_scores(_cities(), source=bad)


def test_city_scores_bad_cities():
    with pytest.raises(ValidationError, match="city_id"):
        scores.city_scores(pd.DataFrame({"x": [1]}), source=pd.DataFrame({"city_id": ["a"], "composite": [1]}))
    with pytest.raises(ValidationError, match="empty"):
        scores.city_scores(_cities().iloc[:0])
    dup = pd.concat([_cities(), _cities().iloc[:1]])
    with pytest.raises(ValidationError, match="duplicate"):
        scores.city_scores(dup, source=pd.DataFrame({"city_id": ["tokyo-jp"], "composite": [1]}))


def test_default_proxies_on_embedded_layers():
    pytest.importorskip("geocity.layers")
    from geocity import provenance

    gdf = scores.city_scores()
    assert provenance.of_frame(gdf).proxy is True and provenance.of_frame(gdf).kind == "proxy"
    assert (gdf["score_source"] == "rank-proxy").all()
    cols = ["innovation", "industry", "infrastructure", "composite"]
    assert gdf[cols].notna().all().all()
    assert gdf[cols].ge(scores.BASE_SCORE - 1e-12).all().all() and gdf[cols].le(1).all().all()
    g = gdf.set_index("city_id")
    assert g.loc["tokyo-jp", "composite"] == pytest.approx(1.0)
    assert g.loc["houston-us", "composite"] == pytest.approx(scores.BASE_SCORE)
    assert g.loc["dallas-us", "infrastructure"] > g.loc["dallas-us", "innovation"]
    # ranked cities score above unranked ones
    assert (g["composite"] > scores.BASE_SCORE).sum() >= 100


def test_user_scores_keyed_by_name():
    cities = _cities()
    user = pd.DataFrame({"name": ["TOKYO", "休斯敦", "Dallas (USA)"], "composite": [1.0, 0.3, 0.6]})
    out = scores.city_scores(cities, source=user).set_index("city_id")
    assert out.loc["tokyo-jp", "composite"] == 1.0
    assert out.loc["houston-us", "composite"] == 0.3
    assert out.loc["dallas-us", "composite"] == 0.6
    assert out.loc["seattle-us", "score_source"] == "user-missing"


def test_user_scores_unknown_and_ambiguous_names():
    cities = _cities()
    with pytest.raises(ValidationError, match="unknown.*Atlantis"):
        scores.city_scores(cities, source=pd.DataFrame({"name": ["Atlantis"], "composite": [1.0]}))
    twin = pd.concat([cities, cities.iloc[:1].assign(city_id="tokyo-xx")], ignore_index=True)
    with pytest.raises(ValidationError, match="ambiguous.*city_id"):
        scores.city_scores(twin, source=pd.DataFrame({"name": ["Tokyo"], "composite": [1.0]}))


def test_scores_file_is_decoded_like_every_other_table(tmp_path):
    """A scores CSV goes through geocity._text as the geocoder and export.read do.

    Before, scores decoded the file itself: a GBK table (Excel's plain "CSV" on
    a Chinese system) was refused ("not UTF-8 ... save it as UTF-8") although
    every other reader takes it, and a mixed UTF-8/GBK file got that same
    message instead of the shared one naming a line of each encoding.
    """
    from geocity import export

    text = "name_zh,composite\n东京,1.0\n休斯敦,0.3\n"
    for enc in ("gbk", "utf-8", "utf-8-sig", "utf-16"):
        f = tmp_path / f"scores_{enc}.csv"
        f.write_bytes(text.encode(enc))
        out = scores.city_scores(_cities(), source=f).set_index("city_id")
        assert out.loc["houston-us", "composite"] == pytest.approx(0.3), enc
        assert out.loc["tokyo-jp", "composite"] == pytest.approx(1.0), enc
        assert export.read(f)["name_zh"].tolist() == ["东京", "休斯敦"]
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("name_zh,composite\n".encode() + "东京,1.0\n".encode("utf-8") + "休斯敦,0.3\n".encode("gbk"))
    with pytest.raises(ValidationError) as err:
        scores.city_scores(_cities(), source=mixed)
    with pytest.raises(ValidationError) as same:
        export.read(mixed)
    assert str(err.value) == str(same.value)
    assert "mixes text encodings: line 2 is UTF-8" in str(err.value) and "line 3 is not UTF-8" in str(err.value)
    # a bad value is named by its line in the GBK file
    bad = tmp_path / "bad_gbk.csv"
    bad.write_bytes("name_zh,composite\n东京,1.0\n休斯敦,abc\n".encode("gbk"))
    with pytest.raises(ValidationError, match=r"non-numeric value\(s\): line 3 \(houston-us\)"):
        scores.city_scores(_cities(), source=bad)


def test_input_files_for_provenance(tmp_path):
    pytest.importorskip("geocity.layers")
    assert [p.name for p in scores.input_files()] == ["cities.csv", "dimension_ranks.csv", "gdci_2022.csv"]
    assert all(p.is_file() for p in scores.input_files())
    user = tmp_path / "mine.csv"
    user.write_text("city_id,composite\ntokyo-jp,1\n", encoding="utf-8")
    assert [p.name for p in scores.input_files(user)] == ["cities.csv", "mine.csv"]


def test_names_the_geocoder_calls_ambiguous_stay_unresolved(monkeypatch):
    """As in geocity.network: only exact/alias geocoder answers place a score row."""
    import pandas as pd

    from geocity import geocode, layers
    from geocity import scores as S

    def fake(df, name_col="name", **kw):
        return pd.DataFrame({"name": df[name_col], "city_id": ["london-gb", "paris-fr"],
                             "match": ["ambiguous", "alias"]})

    monkeypatch.setattr(geocode, "geocode", fake)
    got = S._resolve_names(pd.Series(["Londinium", "Lutetia"]), layers.load("cities"))
    assert got.tolist() == ["Londinium", "paris-fr"]  # the first is reported as unknown by the caller

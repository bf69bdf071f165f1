"""The QGIS Processing provider: the plugin zip (``geocity qgis-plugin``), the
worker it runs (geocity.qgis_worker), and every algorithm run through the real
``qgis_process`` compared with the Python API on the same input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _qgis
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from geocity import qgis_worker
from geocity.cli.main import cli
from geocity.cli.qgis import build_plugin

PLUGIN = "geocity_provider"


# ---------------------------------------------------------------- the zip, the worker (no QGIS needed)
def test_plugin_zip_is_deterministic_and_installable(tmp_path, runner):
    from geocity import __version__

    a = build_plugin(tmp_path / "a.zip")
    res = runner.invoke(cli, ["qgis-plugin", "-o", str(tmp_path / "b.zip")])
    assert res.exit_code == 0, res.output
    assert a.read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
        meta = zf.read(f"{PLUGIN}/metadata.txt").decode()
        init = zf.read(f"{PLUGIN}/__init__.py").decode()
    assert all(n.startswith(f"{PLUGIN}/") for n in names) and f"{PLUGIN}/algorithms.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert f"version={__version__}\n" in meta and "hasProcessingProvider=yes" in meta and "@VERSION@" not in meta
    assert "def classFactory(iface)" in init


def test_plugin_zip_refusals(tmp_path, runner):
    res = runner.invoke(cli, ["qgis-plugin", "-o", str(tmp_path / "p.txt")])
    assert res.exit_code == 1 and ".zip" in res.output and not (tmp_path / "p.txt").exists()
    assert runner.invoke(cli, ["qgis-plugin", "-o", str(tmp_path / "p.zip")]).exit_code == 0
    res = runner.invoke(cli, ["qgis-plugin", "-o", str(tmp_path / "p.zip")])
    assert res.exit_code == 1 and "overwrite" in res.output
    assert runner.invoke(cli, ["qgis-plugin", "-o", str(tmp_path / "p.zip"), "--overwrite"]).exit_code == 0


def test_plugin_sources_missing_is_a_clear_error(tmp_path, monkeypatch):
    import geocity.cli.qgis as qmod
    from geocity.errors import NotFoundError

    monkeypatch.setattr(qmod, "__file__", str(tmp_path / "site-packages" / "geocity" / "cli" / "qgis.py"))
    with pytest.raises(NotFoundError, match="pip install -e"):
        build_plugin(tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()


def test_worker_describes_and_refuses_bad_requests(tmp_path):
    from geocity.cluster import CityClusters

    d = qgis_worker.describe()
    assert d["clusters"]["methods"][0] == CityClusters().method  # geocity's default first
    assert d["clusters"]["eps_km"] == CityClusters().eps_km
    assert "CPEC" in d["corridors"] and "gaussian" in d["kernels"]
    assert qgis_worker.run({"algorithm": "nope"}) == {
        "ok": False, "error": "unknown algorithm 'nope'; one of ['clusters', 'corridor_members', 'density', 'links']",
        "warnings": []}
    pts = gpd.GeoDataFrame({"w": [1.0, 2.0]}, geometry=[Point(0, 0), Point(1, 1)], crs=4326)
    pts.to_file(tmp_path / "p.gpkg")
    ans = qgis_worker.run({"algorithm": "clusters", "input": str(tmp_path / "p.gpkg"),
                           "params": {"weight_field": "weight", "eps_km": 100, "min_weight": 1, "method": "dbscan",
                                      "max_span_km": 700, "buffer_km": 30, "hull": "convex"},
                           "outputs": {"OUTPUT": str(tmp_path / "c.gpkg"), "MEMBERS": str(tmp_path / "m.gpkg")}})
    assert ans["ok"] is False and "WEIGHT_FIELD: no field 'weight'" in ans["error"]
    assert not (tmp_path / "c.gpkg").exists()


# ---------------------------------------------------------------- the real qgis_process
def _inputs(d: Path) -> dict[str, Path]:
    """The report's cities with scores, plus a cluster across the antimeridian and one at the pole;
    an edge table; a user corridor line."""
    import warnings

    from geocity import scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = scores.city_scores()[["city_id", "name_en", "name_zh", "composite", "innovation", "geometry"]]
    extra = gpd.GeoDataFrame({
        "city_id": ["am-1", "am-2", "am-3", "np-1", "np-2", "np-3"],
        "name_en": ["East", "West", "Mid", "Pole A", "Pole B", "Pole C"],
        "name_zh": ["东", "西", "中", "极甲", "极乙", "极丙"],
        "composite": [0.5, 0.5, 0.4, 0.5, 0.5, 0.4], "innovation": [0.1] * 6,
    }, geometry=[Point(179.8, -17), Point(-179.8, -17.1), Point(179.95, -16.9),
                 Point(0, 89.6), Point(120, 89.6), Point(-120, 89.7)], crs=4326)
    pts = pd.concat([c, extra], ignore_index=True)
    paths = {"points": d / "points.gpkg", "edges": d / "edges.csv", "corridor": d / "corridor.geojson",
             "east_asia": d / "east_asia.gpkg", "cities": d / "cities.gpkg"}
    pts.to_file(paths["points"], layer="points")
    c.to_file(paths["cities"], layer="cities")  # the report's cities, as `geocity clusters` clusters them
    # a regional surface (a world grid takes the density engine half a minute)
    pts.cx[100:150, 10:50].to_file(paths["east_asia"], layer="points")
    pd.DataFrame({"source": ["beijing-cn", "tokyo-jp", "am-1"], "target": ["shanghai-cn", "seoul-kr", "am-2"],
                  "weight": [3.0, 2.0, 1.0]}).to_csv(paths["edges"], index=False)
    gpd.GeoDataFrame({"corridor": ["TEST"], "branch": ["main"]},
                     geometry=[LineString([(116.4, 39.9), (121.5, 31.2)])], crs=4326).to_file(paths["corridor"])
    return paths


def _run(env, *args, timeout=240):
    return subprocess.run([_qgis.QGIS_PROCESS, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def qgis_runs(tmp_path_factory):
    """Install the built plugin in a temporary profile and run every algorithm once, concurrently."""
    _qgis.require("qgis_process (Debian's qgis)", Path(_qgis.QGIS_PROCESS).exists())
    d = tmp_path_factory.mktemp("qgis_provider")
    profile = d / "profile"
    plugins = profile / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(build_plugin(d / "geocity_provider.zip")) as zf:
        zf.extractall(plugins)
    env = _qgis.qgis_env(profile, GEOCITY_PYTHON=sys.executable)
    res = _run(env, "plugins", "enable", PLUGIN)
    assert res.returncode == 0, res.stdout + res.stderr
    inp = _inputs(d)
    out = {k: d / f"{k}{ext}" for k, ext in (("clusters", ".gpkg"), ("members", ".gpkg"), ("corridors", ".gpkg"),
                                             ("user_corridor", ".gpkg"), ("density", ".tif"),
                                             ("gravity", ".gpkg"), ("edges", ".gpkg"))}
    pts = str(inp["points"])
    split = qgis_worker.describe()["clusters"]["methods"].index("split")  # an enum is given by its index
    runs = {
        "report": ["run", "geocity:clusters", "--", f"INPUT={inp['cities']}", "WEIGHT_FIELD=composite",
                   "ID_FIELD=city_id", "NAME_FIELD=name_en", "NAME_ZH_FIELD=name_zh", f"METHOD={split}",
                   f"OUTPUT={d / 'report.gpkg'}",
                   f"MEMBERS={d / 'report_members.gpkg'}"],
        "clusters": ["run", "geocity:clusters", "--", f"INPUT={pts}", "WEIGHT_FIELD=composite", "ID_FIELD=city_id",
                     "NAME_FIELD=name_en", "NAME_ZH_FIELD=name_zh", f"OUTPUT={out['clusters']}",
                     f"MEMBERS={out['members']}"],
        # embedded corridors and the user's line layer (which adds one) in one run
        "corridors": ["run", "geocity:corridor_members", "--", f"INPUT={pts}", "CORRIDORS=CPEC,TEST,CMREC",
                      f"CORRIDOR_LAYER={inp['corridor']}", "WITHIN_KM=150", f"OUTPUT={out['corridors']}"],
        "all_points": ["run", "geocity:corridor_members", "--", f"INPUT={inp['east_asia']}", "CORRIDORS=CPEC",
                       "WITHIN_KM=80", "KEEP_ALL=true", f"OUTPUT={out['user_corridor']}"],
        "density": ["run", "geocity:density", "--", f"INPUT={inp['east_asia']}", "WEIGHT_FIELD=composite",
                    "BANDWIDTH_KM=200", "CELL_KM=50", f"OUTPUT={out['density']}"],
        "gravity": ["run", "geocity:links", "--", f"INPUT={pts}", "ID_FIELD=city_id", "NAME_FIELD=name_en",
                    "WEIGHT_FIELD=innovation", "TOP_K=3", f"OUTPUT={out['gravity']}"],
        "edges": ["run", "geocity:links", "--", f"INPUT={pts}", "ID_FIELD=city_id", "MODE=1",
                  f"EDGES={inp['edges']}", "EDGE_WEIGHT_FIELD=weight", f"OUTPUT={out['edges']}"],
        "bad": ["run", "geocity:clusters", "--", f"INPUT={pts}", "WEIGHT_FIELD=composite", "EPS_KM=0",
                f"OUTPUT={d / 'bad.gpkg'}", f"MEMBERS={d / 'bad_members.gpkg'}"],
    }
    missing_env = _qgis.qgis_env(profile, GEOCITY_PYTHON=str(d / "no-such-python"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {k: pool.submit(_run, env, *args) for k, args in runs.items()}
        futures["missing"] = pool.submit(_run, missing_env, "run", "geocity:install_geocity")
        done = {k: f.result() for k, f in futures.items()}
    return {"runs": done, "inputs": inp, "outputs": out, "dir": d}


MESSAGE_BAR = r"""
import json, sys
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
sys.path.insert(0, sys.argv[1])
import geocity_provider
shown = []
class Bar:
    def pushMessage(self, title, text, level=0, duration=0):
        shown.append([title, text])
class Iface:
    def messageBar(self):
        return Bar()
plugin = geocity_provider.classFactory(Iface())
plugin.initGui()
algs = [a.id() for a in QgsApplication.processingRegistry().providerById("geocity").algorithms()]
plugin.unload()
print(json.dumps({"shown": shown, "algorithms": algs}))
app.exitQgis()
"""


def test_message_bar_says_how_to_install_when_geocity_is_missing(qgis_runs):
    script = qgis_runs["dir"] / "message_bar.py"
    script.write_text(MESSAGE_BAR, encoding="utf-8")
    plugins = qgis_runs["dir"] / "profile" / "profiles" / "default" / "python" / "plugins"
    env = _qgis.qgis_env(qgis_runs["dir"] / "profile2", GEOCITY_PYTHON=str(qgis_runs["dir"] / "no-such-python"))
    res = subprocess.run([_qgis.QGIS_PYTHON, str(script), str(plugins)], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["algorithms"] == ["geocity:install_geocity"]
    assert len(got["shown"]) == 1 and "-m pip install" in got["shown"][0][1]


def _ok(qgis_runs, name):
    res = qgis_runs["runs"][name]
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _points(qgis_runs):
    return gpd.read_file(qgis_runs["inputs"]["points"])


def test_clusters_same_as_python_api(qgis_runs):
    import warnings

    from geocity.cluster import CityClusters

    _ok(qgis_runs, "clusters")
    pts = _points(qgis_runs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = CityClusters().fit(pts, sample_weight=pts["composite"].to_numpy())
    members = gpd.read_file(qgis_runs["outputs"]["members"])
    clusters = gpd.read_file(qgis_runs["outputs"]["clusters"])
    assert members["city_id"].tolist() == pts["city_id"].tolist()  # every point, in order
    assert members["input_fid"].tolist() == list(range(1, len(pts) + 1))  # the GeoPackage's key kept
    got, want = members["cluster_id"].to_numpy(), est.labels_
    # the same partition up to renaming
    pairs = set(zip(got.tolist(), want.tolist(), strict=True))
    assert len(pairs) == len({g for g, _ in pairs}) == len({w for _, w in pairs})
    assert ((got == -1) == (want == -1)).all()
    assert (members["is_core"].to_numpy() == est.core_sample_mask_).all()
    assert (members["dbscan_label"].to_numpy() == est.dbscan_labels_).all()
    assert len(clusters) == len(est.clusters_) == len(set(want[want >= 0]))
    api = est.clusters_.set_index("cluster_id")
    for r in clusters.itertuples():
        a = api.loc[r.cluster_id]
        assert (r.name, r.name_zh, r.n_members) == (a["name"], a["name_zh"], a["n_members"])
        assert r.geometry.equals(a.geometry) and r.geometry.symmetric_difference(a.geometry).area < 1e-12
    am = set(members.loc[members["city_id"].str.startswith("am-"), "cluster_id"])
    pole = set(members.loc[members["city_id"].str.startswith("np-"), "cluster_id"])
    assert len(am) == 1 and am != {-1} and len(pole) == 1 and pole != {-1}  # across ±180° and the pole
    assert "上海" in "".join(clusters["name_zh"])  # Chinese text intact
    assert clusters.crs.to_epsg() == 4326 and set(clusters.geom_type) == {"MultiPolygon"}


def test_report_clusters_same_as_geocity_clusters_command(qgis_runs, runner, tmp_path):
    """The issue's check: `qgis_process run geocity:clusters` gives the clusters of `geocity clusters`
    (with the same method: the command's default is 'split')."""
    _ok(qgis_runs, "report")
    res = runner.invoke(cli, ["clusters", "-q", "--method", "split", "-o", str(tmp_path / "c.gpkg")])
    assert res.exit_code == 0, res.output
    cli_members = pd.read_csv(tmp_path / "c_members.csv")
    cli_clusters = gpd.read_file(tmp_path / "c.gpkg")
    got = gpd.read_file(qgis_runs["dir"] / "report_members.gpkg").set_index("city_id")["cluster_id"]
    pairs = set(zip(got.loc[cli_members["city_id"]].tolist(), cli_members["cluster_id"].tolist(), strict=True))
    assert len(pairs) == len({g for g, _ in pairs}) == len({w for _, w in pairs}) == len(cli_clusters)
    assert (got.drop(cli_members["city_id"].unique()) == -1).all()  # the rest in no cluster, as in the CLI
    polys = gpd.read_file(qgis_runs["dir"] / "report.gpkg")
    assert sorted(polys["name_zh"]) == sorted(cli_clusters["name_zh"])


def _same_members(got, want):
    keys = ["city_id", "corridor", "branch"]
    assert got[keys].astype(str).values.tolist() == want[keys].astype(str).values.tolist()
    for col in ("distance_km", "chainage_km"):
        assert np.allclose(got[col].to_numpy(dtype=float), want[col].to_numpy(dtype=float), rtol=0, atol=1e-9,
                           equal_nan=True)
    assert got["side"].fillna("").tolist() == want["side"].fillna("").tolist()


def test_corridor_members_same_as_python_api(qgis_runs):
    from geocity import corridors

    _ok(qgis_runs, "corridors")
    want = corridors.members(_points(qgis_runs), corridors=["CPEC", "TEST", "CMREC"], within_km=150,
                             path=qgis_runs["inputs"]["corridor"], progress=False)
    got = gpd.read_file(qgis_runs["outputs"]["corridors"])
    assert len(got) == len(want) > 10
    assert {"CPEC", "TEST", "CMREC"} == set(got["corridor"])  # the user's line layer is used too
    _same_members(got, want)


def test_corridor_members_keep_all_same_as_python_api(qgis_runs):
    from geocity import corridors

    _ok(qgis_runs, "all_points")
    pts = gpd.read_file(qgis_runs["inputs"]["east_asia"])
    want = corridors.members(pts, corridors=["CPEC"], within_km=80, how="all", progress=False)
    got = gpd.read_file(qgis_runs["outputs"]["user_corridor"])
    assert len(got) == len(want) >= len(pts)  # how=all: every point kept
    _same_members(got, want)


def test_density_same_as_python_api(qgis_runs):
    import rasterio

    from geocity import density

    _ok(qgis_runs, "density")
    pts = gpd.read_file(qgis_runs["inputs"]["east_asia"])
    want = density.density(pts, weight="composite", bandwidth_km=200, cell_km=50)
    with rasterio.open(qgis_runs["outputs"]["density"]) as src:
        got = src.read(1, masked=True)
        crs = src.crs
        transform = src.transform
    assert got.shape == want.values.shape
    assert np.allclose(got.filled(np.nan), want.values.astype("float32"), rtol=1e-6, atol=0, equal_nan=True)
    assert crs == want.crs and transform.almost_equals(want.transform)
    assert np.nanmax(got.filled(np.nan)) > 0 and got.shape[0] > 20


def _same_links(got, want):
    assert got[["source_id", "target_id"]].values.tolist() == want[["source_id", "target_id"]].values.tolist()
    for col in ("strength", "distance_km", "weight"):
        assert np.allclose(got[col], want[col], rtol=1e-12, atol=0)
    assert got["modelled"].tolist() == want["modelled"].tolist()


def test_gravity_links_same_as_python_api(qgis_runs):
    from geocity import network

    _ok(qgis_runs, "gravity")
    pts = _points(qgis_runs)
    want = network.gravity_links(pts, dimension="innovation", top_k=3)
    got = gpd.read_file(qgis_runs["outputs"]["gravity"])
    assert len(got) == len(want) > 100
    _same_links(got, want)
    assert "北京" not in "".join(got["source_name"])  # names from NAME_FIELD (English)


def test_edge_links_same_as_python_api(qgis_runs):
    from geocity import network

    _ok(qgis_runs, "edges")
    want = network.edge_links(pd.read_csv(qgis_runs["inputs"]["edges"]), cities=_points(qgis_runs))
    got = gpd.read_file(qgis_runs["outputs"]["edges"])
    assert len(got) == 3
    _same_links(got, want)
    am = got[got["source_id"] == "am-1"].geometry.iloc[0]
    assert am.geom_type == "MultiLineString"  # split at the antimeridian, not across the world


def test_bad_parameter_is_geocity_message_not_traceback(qgis_runs):
    res = qgis_runs["runs"]["bad"]
    text = res.stdout + res.stderr
    assert res.returncode != 0 and "eps_km" in text and "Traceback" not in text
    assert not (qgis_runs["dir"] / "bad.gpkg").exists()


def test_missing_geocity_says_how_to_install(qgis_runs):
    res = qgis_runs["runs"]["missing"]
    text = res.stdout + res.stderr
    assert res.returncode != 0
    assert "geocity Python package was not found" in text and "-m pip install" in text
    assert "GEOCITY_PYTHON" in text

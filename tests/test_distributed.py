"""geocity.distributed.dbscan on a real distributed.LocalCluster (2 worker processes):
labels identical to the single-machine engine (geocity.dbscan.geodesic_dbscan)."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

pytest.importorskip("distributed")  # the dask extra; CI installs it with the test extra

import dask.array as da  # noqa: E402
import distributed  # noqa: E402

from geocity import distributed as gd  # noqa: E402
from geocity.dbscan import geodesic_dbscan  # noqa: E402
from geocity.errors import GeocityError, OutputExistsError, ValidationError  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def client(cluster):
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()


def _layer(kind: str, n: int = 3000, seed: int = 0):
    """(lat, lon, weights) of a test layer; weights are small integers including zeros."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        z = rng.uniform(-1, 1, n)
        lat, lon = np.degrees(np.arcsin(z)), rng.uniform(-180, 180, n)
    elif kind in ("clumped", "duplicated"):
        c = rng.uniform([-70, -180], [70, 180], size=(25, 2))
        k = rng.integers(0, 25, n)
        lat = np.clip(c[k, 0] + rng.normal(0, 0.6, n), -90, 90)
        lon = (c[k, 1] + rng.normal(0, 0.6, n) + 180) % 360 - 180
        if kind == "duplicated":  # a third of the rows repeat earlier rows exactly
            m = n // 3
            src = rng.integers(0, n - m, m)
            lat[n - m:], lon[n - m:] = lat[src], lon[src]
    elif kind == "antimeridian":
        lat = rng.choice([-30.0, 0.0, 30.0], n) + rng.normal(0, 1.0, n)  # three clumps across 180°
        lon = rng.normal(180, 0.8, n)
        lon = np.where(lon > 180, lon - 360, lon)
        lon[:5] = [180, -180, 180, -180, 179.99]
        lat[:5] = [0, 0, 0.1, 0.1, 0]
    elif kind == "polar":
        lat = 90 - np.abs(rng.normal(0, 1.2, n))
        lon = rng.uniform(-180, 180, n)
        lat[: n // 3] *= -1  # both poles
        lat[:4] = [90, 90, -90, -90]
    else:  # pragma: no cover
        raise ValueError(kind)
    w = rng.integers(0, 4, n).astype(float)  # zeros included
    return lat, lon, w


def _mixed(n: int = 4000):
    parts = [_layer(k, n // 5, seed=i) for i, k in enumerate(("clumped", "duplicated", "uniform", "antimeridian",
                                                              "polar"))]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _dask(x, nparts):
    return da.from_array(x, chunks=max(1, -(-len(x) // nparts)))


def _run(client, lat, lon, w, eps_km, min_weight, nparts, **kw):
    res = gd.dbscan(_dask(lat, nparts), _dask(lon, nparts), weights=_dask(w, nparts), eps_km=eps_km,
                    min_weight=min_weight, client=client, npartitions=nparts, **kw)
    df = res.labels.compute(scheduler=client).sort_values("row")
    assert df["row"].tolist() == list(range(len(lat)))  # every row exactly once
    return res, df["label"].to_numpy(), df["core"].to_numpy()


def _kill_holder(cl, cluster, futures) -> str:
    """SIGKILL the worker process holding one of ``futures``' results; returns its address."""
    who = cl.who_has(futures)
    addr = next(a for f in futures for a in who[f.key])
    nanny = next(n for n in cluster.workers.values() if n.worker_address == addr)
    os.kill(nanny.process.pid, signal.SIGKILL)
    time.sleep(0.5)
    return addr


def _assert_same(lat, lon, w, eps_km, min_weight, labels, core):
    ref, rcore = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=w)
    assert ref.max() >= 1  # several clusters: a real test
    np.testing.assert_array_equal(core, rcore)
    np.testing.assert_array_equal(labels, ref)  # identical, cluster numbers included


@pytest.mark.parametrize("kind,eps_km,min_weight", [
    ("clumped", 25.0, 6.0), ("clumped", 80.0, 20.0), ("duplicated", 25.0, 6.0), ("uniform", 80.0, 20.0),
    ("antimeridian", 25.0, 6.0), ("antimeridian", 80.0, 20.0), ("polar", 25.0, 6.0), ("polar", 80.0, 20.0)])
def test_layers_identical_to_engine(client, kind, eps_km, min_weight):
    lat, lon, w = _layer(kind)
    if kind == "uniform":  # sparse: a wider eps makes clusters
        eps_km, min_weight = eps_km * 6, min_weight / 3
    res, labels, core = _run(client, lat, lon, w, eps_km, min_weight, 7)
    _assert_same(lat, lon, w, eps_km, min_weight, labels, core)
    assert res.info["groups"] > 1


@pytest.mark.parametrize("nparts", [1, 2, 7, 64])
def test_partition_counts(client, nparts):
    lat, lon, w = _mixed()
    for eps_km, min_weight in [(30.0, 5.0), (120.0, 25.0)]:
        res, labels, core = _run(client, lat, lon, w, eps_km, min_weight, nparts)
        _assert_same(lat, lon, w, eps_km, min_weight, labels, core)
        assert res.info["input_partitions"] == nparts
        if nparts > 1:
            assert res.info["groups"] > 1 and res.info["boundary_pairs"] > 0  # clusters cross task borders


def test_unit_weights_and_kdtree_in_tasks(client):
    lat, lon, _ = _layer("clumped", 2500, seed=3)
    # blocks of exactly the halo reach (block_km = 2 eps): a point's halo box spans 3 blocks per axis
    res = gd.dbscan(_dask(lat, 5), _dask(lon, 5), eps_km=20, min_weight=4, client=client, algorithm="kdtree",
                    block_km=40, npartitions=16)
    df = res.labels.compute(scheduler=client).sort_values("row")
    ref, rcore = geodesic_dbscan(lat, lon, eps_km=20, min_weight=4)
    np.testing.assert_array_equal(df["label"].to_numpy(), ref)
    np.testing.assert_array_equal(df["core"].to_numpy(), rcore)
    assert res.n_clusters == ref.max() + 1
    assert res.info["block_side"] < 0.0064 and res.info["boundary_pairs"] > 0


def _join_on(monkeypatch, where: str) -> None:
    """Force the boundary-record join onto the client or the workers (a Dask merge)."""
    if where == "workers":
        monkeypatch.setattr(gd, "CLIENT_JOIN_MAX_RECORDS", 0)

        def no_client_join(*a, **k):  # pragma: no cover - the test fails if it is called
            raise AssertionError("the records were joined on the client")

        monkeypatch.setattr(gd, "_pairs", no_client_join)
    else:
        monkeypatch.setattr(gd, "CLIENT_JOIN_MAX_RECORDS", 10**12)


@pytest.mark.parametrize("nparts", [2, 7, 64])
def test_boundary_join_on_workers(client, monkeypatch, nparts):
    """Above CLIENT_JOIN_MAX_RECORDS the boundary records are joined by a Dask merge on the workers and
    the client receives the distinct component pairs only: same pairs, same labels as the client join."""
    lat, lon, w = _mixed()
    _join_on(monkeypatch, "client")
    ref_res, _, _ = _run(client, lat, lon, w, 30.0, 5.0, nparts)
    assert ref_res.info["records_joined_on"] == "client"
    _join_on(monkeypatch, "workers")
    res, labels, core = _run(client, lat, lon, w, 30.0, 5.0, nparts)
    assert res.info["records_joined_on"] == "workers" and res.info["boundary_records"] > 0
    assert res.info["boundary_pairs"] == ref_res.info["boundary_pairs"] > 0
    assert res.info["boundary_records"] == ref_res.info["boundary_records"]
    _assert_same(lat, lon, w, 30.0, 5.0, labels, core)


@pytest.mark.parametrize("join", ["client", "workers"])
def test_worker_lost_mid_run(client, cluster, monkeypatch, join):
    """One worker process is killed while it holds clustered partitions: Dask recomputes them, same labels
    (with the boundary records joined on the client, and by a Dask merge on the workers)."""
    lat, lon, w = _mixed(4000)
    _join_on(monkeypatch, join)
    killed = []

    def hook(phase, cl, futures):
        while not all(f.done() for f in futures):
            time.sleep(0.05)
        killed.append(_kill_holder(cl, cluster, futures))

    monkeypatch.setattr(gd, "_PHASE_HOOK", hook)
    res, labels, core = _run(client, lat, lon, w, 40.0, 6.0, 6)
    assert killed and res.info["records_joined_on"] == join
    _assert_same(lat, lon, w, 40.0, 6.0, labels, core)
    client.wait_for_workers(2, timeout=60)


def test_geoparquet_in_and_out(client, tmp_path):
    import dask_geopandas
    import geopandas as gpd

    lat, lon, w = _mixed(3000)
    g = gpd.GeoDataFrame({"score": w, "name": [f"p{i}" for i in range(len(lat))]},
                         geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    src = tmp_path / "pts"
    src.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(g)), 4)):  # a partitioned GeoParquet folder
        g.iloc[part].to_parquet(src / f"part.{i}.parquet")
    out = tmp_path / "labels"
    res = gd.dbscan(src, eps_km=50, min_weight=6, weight_column="score", client=client, output=out)
    assert res.output == out and res.labels is None
    got = gd.read_labels(out)
    _assert_same(lat, lon, w, 50, 6, got["label"].to_numpy(), got["core"].to_numpy())
    rec = json.loads((out / gd.PROVENANCE_NAME).read_text(encoding="utf-8"))
    assert rec["params"]["eps_km"] == 50 and rec["extra"]["n_points"] == len(lat)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    back = gpd.read_parquet(out)  # the folder is one GeoParquet dataset
    assert len(back) == len(lat) and back.crs.to_epsg() == 4326
    # a dask_geopandas frame in another CRS gives the same labels
    dg = dask_geopandas.from_geopandas(g.to_crs(3857), npartitions=3)
    res2 = gd.dbscan(dg, eps_km=50, min_weight=6, weight_column="score", client=client)
    df = res2.labels.compute(scheduler=client).sort_values("row")
    np.testing.assert_array_equal(df["label"].to_numpy(), got["label"].to_numpy())
    # no overwrite without permission; with it, replaced whole
    with pytest.raises(OutputExistsError, match="overwrite"):
        gd.dbscan(src, eps_km=50, min_weight=6, client=client, output=out)
    gd.dbscan(src, eps_km=80, min_weight=6, client=client, output=out, overwrite=True)
    assert json.loads((out / gd.PROVENANCE_NAME).read_text(encoding="utf-8"))["params"]["eps_km"] == 80


def test_failed_run_leaves_nothing(client, tmp_path):
    lat, lon, w = _layer("clumped", 2000)
    lat[1500] = 95.0  # bad latitude in the last partition
    out = tmp_path / "labels"
    with pytest.raises(ValidationError, match=r"partition 3"):
        gd.dbscan(_dask(lat, 4), _dask(lon, 4), eps_km=30, min_weight=4, client=client, output=out)
    assert list(tmp_path.iterdir()) == []
    w[7] = -1.0
    lat[1500] = 0.0
    with pytest.raises(ValidationError, match=r"negative"):
        gd.dbscan(_dask(lat, 4), _dask(lon, 4), weights=_dask(w, 4), eps_km=30, min_weight=4, client=client,
                  output=out)
    assert list(tmp_path.iterdir()) == []


def test_partitions_without_coordinates(client, tmp_path):
    import pandas as pd

    src = tmp_path / "plain"
    src.mkdir()
    pd.DataFrame({"a": [1.0, 2.0, 3.0]}).to_parquet(src / "part.0.parquet")
    with pytest.raises(ValidationError, match="coordinates|geometry|GeoParquet"):
        gd.dbscan(src, eps_km=30, min_weight=2, client=client)
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    src2 = tmp_path / "holes"
    src2.mkdir()
    gpd.GeoDataFrame({"a": [1, 2]}, geometry=[Point(0, 0), Point(1, 1)], crs=4326).to_parquet(src2 / "p0.parquet")
    gpd.GeoDataFrame({"a": [3, 4, 5]}, geometry=[Point(2, 2), None, LineString([(0, 0), (1, 1)])],
                     crs=4326).to_parquet(src2 / "p1.parquet")
    with pytest.raises(ValidationError, match=r"partition 1: 2 row\(s\) have no point coordinates.*rows \[1, 2\]"):
        gd.dbscan(src2, eps_km=30, min_weight=2, client=client, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_arguments(client, tmp_path):
    lat, lon, _ = _layer("clumped", 100)
    with pytest.raises(ValidationError, match="eps_km"):
        gd.dbscan(_dask(lat, 2), _dask(lon, 2), eps_km=-1, min_weight=2, client=client)
    with pytest.raises(ValidationError, match="block_km"):
        gd.dbscan(_dask(lat, 2), _dask(lon, 2), eps_km=10, min_weight=2, client=client, block_km=0)
    with pytest.raises(ValidationError, match="npartitions"):
        gd.dbscan(_dask(lat, 2), _dask(lon, 2), eps_km=10, min_weight=2, client=client, npartitions=0)
    with pytest.raises(ValidationError, match="lon="):
        gd.dbscan(_dask(lat, 2), eps_km=10, min_weight=2, client=client)
    with pytest.raises(ValidationError, match="geodesic_dbscan"):
        gd.dbscan(np.asarray(lat), eps_km=10, min_weight=2, client=client)
    with pytest.raises(ValidationError, match="does not exist"):
        gd.dbscan(tmp_path / "nope", eps_km=10, min_weight=2, client=client)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValidationError, match="is a file"):
        gd.dbscan(_dask(lat, 2), _dask(lon, 2), eps_km=10, min_weight=2, client=client, output=tmp_path / "afile")


def test_scheduler_unreachable():
    with pytest.raises(GeocityError, match="cannot reach the Dask scheduler"):
        gd.get_client("tcp://127.0.0.1:1", timeout_s=1)


def test_dask_missing_message(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "distributed" or name.startswith("dask"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ImportError, match=r"pip install geocity\[dask\]"):
        gd.get_client()


# --------------------------------------------------------------------------
# the command line: geocity clusters --points ... [--workers N | --scheduler ADDR]
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def parquet_layer(tmp_path_factory):
    import geopandas as gpd

    lat, lon, w = _mixed(3000)
    g = gpd.GeoDataFrame({"score": w}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    src = tmp_path_factory.mktemp("layer") / "pts"
    src.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(g)), 3)):
        g.iloc[part].to_parquet(src / f"part.{i}.parquet")
    return src, (lat, lon, w)


def _cli(args):
    from click.testing import CliRunner

    from geocity.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_points_workers_same_as_one_machine(parquet_layer, tmp_path):
    src, (lat, lon, w) = parquet_layer
    common = ["clusters", "--points", src, "--eps-km", 60, "--min-weight", 6, "--weight-column", "score"]
    r1 = _cli(common + ["-o", tmp_path / "one"])
    assert r1.exit_code == 0, r1.output
    r2 = _cli(common + ["--workers", 2, "-o", tmp_path / "dask"])
    assert r2.exit_code == 0, r2.output
    assert "on Dask" in r2.output
    a, b = gd.read_labels(tmp_path / "one"), gd.read_labels(tmp_path / "dask")
    assert a.equals(b)
    _assert_same(lat, lon, w, 60, 6, b["label"].to_numpy(), b["core"].to_numpy())
    assert gd.provenance(tmp_path / "dask")["params"]["min_weight"] == 6
    assert len(gd.provenance(tmp_path / "one")["inputs"]) == 3  # the input parts checksummed


def test_cli_points_scheduler_and_refusals(client, parquet_layer, tmp_path):
    src, _ = parquet_layer
    addr = client.scheduler.address
    base = ["clusters", "--points", src, "--eps-km", 40, "--min-weight", 4]
    r = _cli(base + ["--scheduler", addr, "--partitions", 5, "-o", tmp_path / "lab"])
    assert r.exit_code == 0, r.output
    assert gd.provenance(tmp_path / "lab")["params"]["npartitions"] == 5
    r = _cli(base + ["--scheduler", addr, "-o", tmp_path / "lab"])  # exists, no --overwrite
    assert r.exit_code != 0 and "--overwrite" in r.output
    r = _cli(base + ["--workers", 2, "--scheduler", addr, "-o", tmp_path / "x"])
    assert r.exit_code == 2 and "not both" in r.output
    r = _cli(["clusters", "--points", src, "-o", tmp_path / "x"])
    assert r.exit_code == 2 and "--eps-km and --min-weight" in r.output
    r = _cli(base + ["--method", "dbscan", "-o", tmp_path / "x"])
    assert r.exit_code == 2 and "--method" in r.output
    r = _cli(["clusters", "--workers", 2, "-o", tmp_path / "c.shp"])
    assert r.exit_code == 2 and "needs --points" in r.output
    r = _cli(base + ["--weight-column", "nope", "-o", tmp_path / "x"])
    assert r.exit_code == 1 and "'nope'" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab"]  # refused runs wrote nothing


def test_geodesic_dbscan_takes_dask_arrays(client):
    """The engine's own entry point hands dask arrays to the cluster (default client) and gives
    dask arrays back, chunked like the input, in input order."""
    lat, lon, w = _mixed(2500)
    ref, rcore = geodesic_dbscan(lat, lon, eps_km=45, min_weight=5, weights=w)
    chunks = (600, 0, 1200, 699, 1)  # uneven, with an empty chunk
    with client.as_current():
        labels, core = geodesic_dbscan(da.from_array(lat, chunks=(chunks,)), da.from_array(lon, chunks=500),
                                       weights=da.from_array(w, chunks=800), eps_km=45, min_weight=5)
        assert isinstance(labels, da.Array) and labels.chunks == (chunks,)
        np.testing.assert_array_equal(labels.compute(), ref)
        np.testing.assert_array_equal(core.compute(), rcore)


# --------------------------------------------------------------------------
# corridor membership on partitions
# --------------------------------------------------------------------------
def test_corridor_members_on_partitions(client, tmp_path):
    import dask_geopandas
    import geopandas as gpd
    import pandas as pd

    from geocity import corridors

    rng = np.random.default_rng(4)
    n = 3000
    g = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)], "w": rng.uniform(0, 1, n)},
                         geometry=gpd.points_from_xy(rng.uniform(60, 125, n), rng.uniform(15, 50, n)), crs=4326)
    ref = corridors.members(g.assign(row=np.arange(n)), corridors=None, within_km=100, progress=False)
    key = ["corridor", "branch", "chainage_km", "row"]

    def table(df):
        return pd.DataFrame(df.drop(columns="geometry")).sort_values(key).reset_index(drop=True)[
            [c for c in ref.columns if c != "geometry"]]

    assert len(ref) > 100
    got = gd.corridor_members(dask_geopandas.from_geopandas(g.to_crs(3857), npartitions=4), corridors=None,
                              within_km=100, client=client).compute(scheduler=client)
    pd.testing.assert_frame_equal(table(got), table(ref), check_dtype=False, rtol=1e-9)
    # to a GeoParquet folder, all or nothing, with its record
    src = tmp_path / "pts"
    src.mkdir()
    for i, part in enumerate(np.array_split(np.arange(n), 3)):
        g.iloc[part].to_parquet(src / f"part.{i}.parquet")
    out = gd.corridor_members(src, corridors=None, within_km=100, client=client, output=tmp_path / "members")
    back = gpd.read_parquet(out)
    pd.testing.assert_frame_equal(table(back), table(ref), check_dtype=False, rtol=1e-9)
    assert gd.provenance(out)["extra"]["n_rows"] == len(ref)
    # options are checked before any task runs, and nothing is written
    with pytest.raises(ValidationError, match="within_km"):
        gd.corridor_members(src, within_km=-5, client=client, output=tmp_path / "bad")
    with pytest.raises(GeocityError, match="unknown corridor"):
        gd.corridor_members(src, corridors="NO-SUCH-CORRIDOR", client=client, output=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


# --------------------------------------------------------------------------
# density on partitions
# --------------------------------------------------------------------------
def test_density_surface_sums_partitions(client, tmp_path):
    import dask_geopandas
    import geopandas as gpd

    from geocity import density

    rng = np.random.default_rng(6)
    n = 4000
    w = rng.integers(0, 4, n).astype(float)
    w[: n // 4] = 0.0  # a whole partition of zero weights contributes nothing
    g = gpd.GeoDataFrame({"w": w}, geometry=gpd.points_from_xy(rng.normal(100, 8, n), rng.normal(30, 5, n)),
                         crs=4326)
    ext = (60, 0, 140, 60)
    ref = density.density(g, weight="w", bandwidth_km=150, cell_km=50, extent=ext, method="binned")
    got = gd.density_surface(dask_geopandas.from_geopandas(g, npartitions=4), weight_column="w", bandwidth_km=150,
                             cell_km=50, extent=ext, client=client)
    assert got.values.shape == ref.values.shape and got.transform == ref.transform and got.crs == ref.crs
    np.testing.assert_array_equal(np.isnan(got.values), np.isnan(ref.values))
    peak = np.nanmax(ref.values)
    assert np.nanmax(np.abs(got.values - ref.values)) <= 1e-6 * peak
    assert got.total_weight() == pytest.approx(ref.total_weight(), rel=1e-7)  # the same mass on the grid
    assert got.metadata["n_points"] == n and got.metadata["total_weight"] == w.sum()
    tif = gd.density_surface(dask_geopandas.from_geopandas(g, npartitions=3), weight_column="w", bandwidth_km=150,
                             cell_km=50, extent=ext, client=client, output=tmp_path / "d.tif")
    back = density.read_geotiff(tif)
    assert np.nanmax(np.abs(back.values - ref.values)) <= 1e-6 * peak
    with pytest.raises(ValidationError, match="extent"):
        gd.density_surface(tmp_path, bandwidth_km=150, cell_km=50, extent=None, client=client)
    with pytest.raises(ValidationError, match="bandwidth"):
        gd.density_surface(tmp_path, bandwidth_km=-1, cell_km=50, extent=ext, client=client)
    # a partition whose weights are NaN/zero or negative/positive is refused, not skipped as "no mass"
    for bad in ([np.nan, 0.0], [-1.0, 1.0]):
        wb = w.copy()
        wb[:2] = bad
        gb = g.assign(w=wb)
        with pytest.raises(ValidationError, match="negative weight"):
            gd.density_surface(dask_geopandas.from_geopandas(gb, npartitions=4), weight_column="w",
                               bandwidth_km=150, cell_km=50, extent=ext, client=client)
    with pytest.raises(ValidationError, match="no weight column 'v'"):
        gd.density_surface(dask_geopandas.from_geopandas(g, npartitions=2), weight_column="v", bandwidth_km=150,
                           cell_km=50, extent=ext, client=client)


# --------------------------------------------------------------------------
# issue 15 follow-ups: one reader order, bounded border pairs, score provenance of density weights
# --------------------------------------------------------------------------
def _twelve_parts(tmp_path, lat, lon, w):
    """A folder of 12 parts named part.0 .. part.11 (lexical order would put part.10 before part.2)."""
    import geopandas as gpd

    g = gpd.GeoDataFrame({"score": w}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    src = tmp_path / "twelve"
    src.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(g)), 12)):
        g.iloc[part].to_parquet(src / f"part.{i}.parquet")
    return src


def test_twelve_parts_one_reader_order(client, tmp_path):
    lat, lon, w = _mixed(2400)
    src = _twelve_parts(tmp_path, lat, lon, w)
    files = gd.parquet_files(src)
    assert [f.name for f in files] == [f"part.{i}.parquet" for i in range(12)]  # natural, as Dask reads them
    one = gd.dbscan_local(src, eps_km=50, min_weight=6, weight_column="score", output=tmp_path / "one")
    dsk = gd.dbscan(src, eps_km=50, min_weight=6, weight_column="score", client=client, output=tmp_path / "dask")
    assert one.n_points == dsk.n_points == len(lat)
    a, b = gd.read_labels(tmp_path / "one"), gd.read_labels(tmp_path / "dask")
    assert a.equals(b)
    # row = the position in the natural order of the parts: the labels are those of the layer as generated
    _assert_same(lat, lon, w, 50, 6, b["label"].to_numpy(), b["core"].to_numpy())
    import geopandas as gpd

    back = gpd.read_parquet(tmp_path / "one").sort_values("row")
    np.testing.assert_array_equal(back["lat"].to_numpy(), lat)
    # corridor members number rows the same way
    m = gd.corridor_members(src, corridors=None, within_km=300, client=client).compute(scheduler=client)
    assert len(m) and set(m["row"]) <= set(range(len(lat)))
    np.testing.assert_allclose(m["geometry"].y.to_numpy(), lat[m["row"].to_numpy()])


def test_border_candidates_bounded_chunks():
    rng = np.random.default_rng(2)
    Xb = gd._unit(rng.normal(10, 1, 700), rng.normal(20, 1, 700))
    Xc = gd._unit(rng.normal(10, 1, 900), rng.normal(20, 1, 900))
    r = 0.004
    rows, comps = np.arange(700, dtype=np.int64) + 5, rng.integers(0, 6, 900).astype(np.int64)
    d = np.sqrt(((Xb[:, None, :] - Xc[None, :, :]) ** 2).sum(axis=2))
    i, j = np.nonzero(d <= r)
    ref = {(int(rows[a]), int(comps[b])) for a, b in zip(i, j, strict=True)}
    assert len(ref) > 100
    for budget in (None, 50):  # tiny chunks: many pair queries, the same answer
        got = gd._border_candidates(Xb, Xc, r, rows, comps, budget=budget)
        assert not got.duplicated().any()
        assert set(map(tuple, got[["row", "comp"]].to_numpy().tolist())) == ref


def test_density_surface_records_score_provenance(client):
    import dask_geopandas
    import geopandas as gpd

    from geocity import density

    rng = np.random.default_rng(8)
    n = 800
    g = gpd.GeoDataFrame({"w": rng.uniform(0, 1, n),
                          "score_source": np.where(np.arange(n) < 100, "rank-proxy", "user")},
                         geometry=gpd.points_from_xy(rng.normal(100, 5, n), rng.normal(30, 4, n)), crs=4326)
    ext = (70, 5, 130, 55)
    kw = dict(bandwidth_km=200, cell_km=50, extent=ext)
    for frame in (g, g.assign(score_source="user"), g.drop(columns="score_source")):
        ref = density.density(frame, weight="w", method="binned", **kw)
        got = gd.density_surface(dask_geopandas.from_geopandas(frame, npartitions=4), weight_column="w",
                                 client=client, **kw)
        for k in ("weight_source", "weights_proxy", "score_source", "scores_kind", "proxy", "n_scores_proxy",
                  "n_scores_user", "n_scores_missing", "scores_note"):
            assert got.metadata.get(k) == ref.metadata.get(k), k
    assert gd.density_surface(dask_geopandas.from_geopandas(g, npartitions=3), weight_column="w", client=client,
                              **kw).metadata["weight_source"] == "rank-proxy"


def test_cli_corridors_and_density_on_dask(client, tmp_path):
    """geocity corridors members / geocity density take --points folder/ with --workers N or --scheduler ADDR
    (the options of geocity clusters), and give the single-machine answers."""
    import geopandas as gpd
    import pandas as pd

    from geocity import corridors, density

    rng = np.random.default_rng(5)
    n = 1500
    lat, lon = rng.uniform(20, 45, n), rng.uniform(65, 120, n)
    w = rng.integers(0, 4, n).astype(float)
    src = _twelve_parts(tmp_path, lat, lon, w)
    g = gpd.GeoDataFrame({"score": w}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    addr = client.scheduler.address
    r = _cli(["corridors", "members", "--points", src, "--corridor", "CPEC,CMREC", "--within-km", 150,
              "--workers", 2, "-o", tmp_path / "members"])
    assert r.exit_code == 0, r.output
    ref = corridors.members(g.assign(row=np.arange(n)), corridors=["CPEC", "CMREC"], within_km=150, progress=False)
    key = ["corridor", "branch", "chainage_km", "row"]
    got = gpd.read_parquet(tmp_path / "members")
    assert len(ref) > 50 and len(got) == len(ref)
    cols = [c for c in ref.columns if c != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(got[cols]).sort_values(key).reset_index(drop=True),
                                  pd.DataFrame(ref[cols]).sort_values(key).reset_index(drop=True),
                                  check_dtype=False, rtol=1e-9)
    assert len(gd.provenance(tmp_path / "members")["inputs"]) >= 12  # the parts checksummed
    ext = ["60", "10", "130", "55"]
    r = _cli(["density", "--points", src, "--weight", "score", "--bandwidth-km", 150, "--cell-km", 50,
              "--extent", *ext, "--scheduler", addr, "-o", tmp_path / "d.tif"])
    assert r.exit_code == 0, r.output
    back = density.read_geotiff(tmp_path / "d.tif")
    ref_d = density.density(g, weight="score", bandwidth_km=150, cell_km=50, extent=[float(x) for x in ext],
                            method="binned")
    assert np.nanmax(np.abs(back.values - ref_d.values)) <= 1e-6 * np.nanmax(ref_d.values)
    # refusals: a folder without Dask, options a Dask run does not take, no --extent; nothing written
    r = _cli(["density", "--points", src, "--bandwidth-km", 150, "--cell-km", 50, "-o", tmp_path / "x.tif"])
    assert r.exit_code == 2 and "--workers" in r.output
    r = _cli(["density", "--points", src, "--bandwidth-km", 150, "--cell-km", 50, "--scheduler", addr,
              "-o", tmp_path / "x.tif"])
    assert r.exit_code == 2 and "--extent" in r.output
    r = _cli(["density", "--points", src, "--bandwidth-km", 150, "--extent", *ext, "--mask-land",
              "--scheduler", addr, "-o", tmp_path / "x.tif"])
    assert r.exit_code == 2 and "--mask-land" in r.output
    r = _cli(["corridors", "members", "--points", src, "--all", "--scheduler", addr, "-o", tmp_path / "m2"])
    assert r.exit_code == 2 and "--all" in r.output
    r = _cli(["corridors", "members", "--points", src, "-o", tmp_path / "m2.csv"])
    assert r.exit_code == 2 and "--workers" in r.output
    r = _cli(["corridors", "members", "--points", src, "--workers", 2, "--scheduler", addr, "-o", tmp_path / "m2"])
    assert r.exit_code == 2 and "not both" in r.output
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("x", "m2", "."))]


def test_estimator_on_dask(client):
    """GeodesicDBSCAN (geocity.dbscan, re-exported by geocity.cluster) fits Dask inputs on the current
    client: dask arrays out, in input order, equal to a single-machine fit."""
    import dask_geopandas
    import geopandas as gpd

    from geocity.cluster import GeodesicDBSCAN

    lat, lon, w = _mixed(2000)
    ref = GeodesicDBSCAN(eps_km=45, min_weight=5).fit(np.column_stack([lat, lon]), sample_weight=w)
    assert ref.labels_.max() >= 1
    X = da.from_array(np.column_stack([lat, lon]), chunks=(450, 2))
    with client.as_current():
        est = GeodesicDBSCAN(eps_km=45, min_weight=5).fit(X, sample_weight=da.from_array(w, chunks=300))
        assert isinstance(est.labels_, da.Array) and est.labels_.chunks == X.chunks[:1]
        np.testing.assert_array_equal(est.labels_.compute(), ref.labels_)
        np.testing.assert_array_equal(est.core_sample_indices_.compute(), ref.core_sample_indices_)
        np.testing.assert_array_equal(est.components_.compute(), ref.components_)
        assert est.info_["groups"] > 1 and est.n_features_in_ == 2
        g = gpd.GeoDataFrame({"w": w}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(3857)
        lab = GeodesicDBSCAN(eps_km=45, min_weight=5).fit_predict(dask_geopandas.from_geopandas(g, npartitions=3),
                                                                  sample_weight="w")
        np.testing.assert_array_equal(lab.compute(), ref.labels_)
        with pytest.raises(ValidationError, match="shape"):
            GeodesicDBSCAN(eps_km=45, min_weight=5).fit(da.from_array(lat, chunks=500))
        with pytest.raises(ValidationError, match="eps_km"):
            GeodesicDBSCAN(eps_km=-1, min_weight=5).fit(X)
        with pytest.raises(ValidationError, match="column"):
            GeodesicDBSCAN(eps_km=45, min_weight=5).fit(dask_geopandas.from_geopandas(g, npartitions=3),
                                                        sample_weight=w)


@pytest.mark.parametrize("join", ["client", "workers"])
def test_output_through_disk_worker_lost(client, cluster, monkeypatch, tmp_path, join):
    """To a folder, the halo shuffle and each task's points go through the staged folder (per-worker
    memory set by the task size): same labels, a worker killed mid-run changes nothing, no scratch left."""
    import geopandas as gpd

    _join_on(monkeypatch, join)
    lat, lon, w = _mixed(3000)
    src = _twelve_parts(tmp_path, lat, lon, w)
    killed = []
    seen = []

    def hook(phase, cl, futures):
        while not all(f.done() for f in futures):
            time.sleep(0.05)
        seen.extend(p.name for p in tmp_path.iterdir() if p.name.startswith(".labels."))
        scratch = next(tmp_path.glob(".labels.*")) / ".scratch"
        assert (scratch / "halo").is_dir() and list((scratch / "own").glob("*.points.parquet"))
        killed.append(_kill_holder(cl, cluster, futures))

    monkeypatch.setattr(gd, "_PHASE_HOOK", hook)
    res = gd.dbscan(src, eps_km=40, min_weight=6, weight_column="score", client=client, npartitions=9,
                    output=tmp_path / "labels")
    assert killed and seen and res.info["through_disk"] and res.info["tasks"] == 9
    assert res.info["records_joined_on"] == join
    got = gd.read_labels(tmp_path / "labels")
    _assert_same(lat, lon, w, 40, 6, got["label"].to_numpy(), got["core"].to_numpy())
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == (
        [gd.PROVENANCE_NAME] + [f"part.{i:05d}.parquet" for i in range(9)])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert len(gpd.read_parquet(tmp_path / "labels")) == len(lat)
    client.wait_for_workers(2, timeout=60)


def _logged_read(path, log):
    import geopandas as gpd

    with open(log, "a") as fh:
        fh.write(f"{path}\n")
    return gpd.read_parquet(path)


def test_corridor_members_reads_each_partition_once(client, tmp_path):
    import dask
    import dask.dataframe as dd
    import geopandas as gpd

    rng = np.random.default_rng(9)
    n = 900
    lat, lon = rng.uniform(20, 45, n), rng.uniform(65, 120, n)
    src = _twelve_parts(tmp_path, lat, lon, np.ones(n))
    files = gd.parquet_files(src)
    log = tmp_path / "reads.log"
    meta = gpd.read_parquet(files[0]).iloc[0:0]
    frame = dd.from_delayed([dask.delayed(_logged_read)(str(f), str(log)) for f in files], meta=meta,
                            verify_meta=False)
    out = gd.corridor_members(frame, corridors=None, within_km=300, client=client, output=tmp_path / "m")
    assert sorted(log.read_text().split()) == sorted(str(f) for f in files)  # each partition read once
    m = gpd.read_parquet(out)
    assert len(m) and gd.provenance(out)["extra"]["n_points"] == n
    np.testing.assert_allclose(m.geometry.y.to_numpy(), lat[m["row"].to_numpy()])


def test_edge_pair_count_refused_on_dask_inputs():
    """The eps-edge certificate is a single-machine count: asked for on Dask inputs it is a clear
    error naming the option, before any work is scheduled (no client needed)."""
    from geocity.cluster import GeodesicDBSCAN

    lat, lon, _ = _mixed(200)
    with pytest.raises(ValidationError, match="count_edge_pairs=True is not available"):
        geodesic_dbscan(da.from_array(lat, chunks=50), da.from_array(lon, chunks=50), eps_km=45, min_weight=5,
                        count_edge_pairs=True)
    X = da.from_array(np.column_stack([lat, lon]), chunks=(50, 2))
    with pytest.raises(ValidationError, match="count_edge_pairs=True is not available on Dask inputs"):
        GeodesicDBSCAN(eps_km=45, min_weight=5, count_edge_pairs=True).fit(X)

"""The main job never touches files outside its output folder, checks every
option before it writes, and ends every user mistake in one plain message
(issue 11, parts 2, 3a and 4).

The suite runs as root, for whom a read-only folder is writable: unwritable
outputs are a path under /proc (which fails for root too), a file used as a
folder, or a mocked ``os.access`` / ``mkdir``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from pathlib import Path

import pytest

from geocity import figures, pipeline
from geocity.cli.main import cli
from geocity.errors import GeocityError, OutputExistsError, ValidationError


def _tree(root: Path) -> list[str]:
    """Every path under ``root`` (links not followed), to compare before/after."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _plain_failure(res, *needles: str) -> None:
    assert res.exit_code not in (0, None), res.output
    assert "Traceback" not in res.output, res.output
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), repr(res.exception)
    for n in needles:
        assert n in res.output, (n, res.output)


# --------------------------------------------------------------------------
# the manifest never removes what geocity cannot vouch for
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def layers_run(tmp_path_factory):
    """A clean ``--steps layers`` run, copied by each test (one pipeline run for the module)."""
    base = tmp_path_factory.mktemp("layers_run") / "out"
    pipeline.reproduce(base, steps=["layers"])
    return base


def _copy_run(layers_run: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(layers_run, dest, symlinks=True)
    return dest


def _doctor(out: Path, step: str, entries: dict) -> None:
    path = out / pipeline.MANIFEST
    m = json.loads(path.read_text(encoding="utf-8"))
    m["steps"][step].update(entries)
    path.write_text(json.dumps(m), encoding="utf-8")


def _victims(tmp_path: Path, out: Path) -> dict[str, Path]:
    """Files outside ``out`` that a doctored manifest points at, with their right sha256."""
    v = {
        "parent": tmp_path / "victim.txt",
        "absolute": tmp_path / "abs_victim.txt",
        "through_dir_link": tmp_path / "elsewhere" / "linked.txt",
        "file_link": tmp_path / "victim_via_file_link.txt",
    }
    v["through_dir_link"].parent.mkdir()
    for k, p in v.items():
        p.write_text(f"precious {k}", encoding="utf-8")
    (out / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (out / "layers" / "evil.txt").symlink_to(v["file_link"])
    rel_parent = os.path.relpath(v["parent"], out)  # ../victim.txt
    _doctor(out, "layers", {
        rel_parent: _sha(v["parent"]),
        str(v["absolute"]): _sha(v["absolute"]),
        "link/linked.txt": _sha(v["through_dir_link"]),
        "layers/evil.txt": _sha(v["file_link"]),
        "layers/../../victim.txt": _sha(v["parent"]),
    })
    return v


def test_doctored_manifest_deletes_nothing_outside_api(tmp_path, layers_run, caplog):
    out = _copy_run(layers_run, tmp_path / "out")
    victims = _victims(tmp_path, out)
    with caplog.at_level("WARNING", logger="geocity.pipeline"), \
            pytest.warns(pipeline.ManifestWarning) as rec:
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    for k, p in victims.items():
        assert p.read_text(encoding="utf-8") == f"precious {k}", k
    assert (out / "layers" / "evil.txt").is_symlink() and (out / "link").is_symlink()
    text = " ".join(str(w.message) for w in rec)
    assert "../victim.txt" in text and str(victims["absolute"]) in text
    assert "link/linked.txt (reached through a symbolic link)" in text
    assert "layers/evil.txt (reached through a symbolic link)" in text
    assert "kept" in caplog.text  # also a logging warning
    # the doctored entries are not carried into the new manifest
    m = json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))
    assert all(not f.startswith(("..", "/", "link/")) and f != "layers/evil.txt" for f in m["steps"]["layers"])


def test_doctored_manifest_deletes_nothing_outside_cli(runner, tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    victims = _victims(tmp_path, out)
    with warnings.catch_warnings():
        warnings.simplefilter("always", pipeline.ManifestWarning)  # shown, as a user sees them
        res = runner.invoke(cli, ["reproduce", "-o", str(out), "--steps", "layers", "--overwrite"])
    assert res.exit_code == 0, res.output
    for k, p in victims.items():
        assert p.exists(), k
    assert "Warning: " in res.output and "../victim.txt" in res.output, res.output
    assert "ManifestWarning" not in res.output and "Traceback" not in res.output


def test_only_unchanged_own_files_are_removed(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    mine = out / "layers" / "old_but_edited.csv"
    ours = out / "layers" / "old_output.csv"
    ours.write_text("geocity wrote this\n", encoding="utf-8")
    mine.write_text("geocity wrote this\n", encoding="utf-8")
    _doctor(out, "layers", {"layers/old_output.csv": _sha(ours), "layers/old_but_edited.csv": _sha(mine)})
    mine.write_text("the user edited this\n", encoding="utf-8")
    with pytest.warns(pipeline.ManifestWarning, match=r"old_but_edited.csv \(changed since geocity wrote it\)"):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert not ours.exists()  # listed, still byte-identical: removed
    assert mine.read_text(encoding="utf-8") == "the user edited this\n"


def test_manifest_records_sha256_sorted(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    m = json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))
    files = m["steps"]["layers"]
    assert list(files) == sorted(files) and files
    for rel, sha in files.items():
        assert sha == _sha(out / rel), rel
    before = (out / pipeline.MANIFEST).read_bytes()
    pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert (out / pipeline.MANIFEST).read_bytes() == before  # deterministic: no timestamps


def test_legacy_manifest_without_checksums_removes_nothing(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    (out / "layers" / "stale.csv").write_text("x", encoding="utf-8")
    (out / pipeline.MANIFEST).write_text(json.dumps({"steps": {"layers": ["layers/stale.csv"]}}), encoding="utf-8")
    with pytest.warns(pipeline.ManifestWarning, match="no checksum recorded"):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert (out / "layers" / "stale.csv").exists()


def test_manifest_step_geocity_does_not_know_is_a_warning_and_removes_nothing(tmp_path, layers_run):
    """A record under a step name geocity has no step for is not this folder's
    record: it is ignored with a warning, and its (unchanged) file is kept."""
    from geocity import _manifest

    out = _copy_run(layers_run, tmp_path / "out")
    stale = out / "layers" / "stale.csv"
    stale.write_text("x", encoding="utf-8")
    record = {"steps": {"../../escape": {"layers/stale.csv": _sha(stale)}}}
    (out / pipeline.MANIFEST).write_text(json.dumps(record), encoding="utf-8")
    with pytest.warns(pipeline.ManifestWarning, match="escape"):
        assert _manifest.read(out, pipeline.STEPS) == {}
    with pytest.warns(pipeline.ManifestWarning, match="escape"):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert stale.exists()


_BAD_MANIFESTS = {
    "not_json": b"not json",
    "not_utf8": b"\xff\xfe\x00\x01",
    "a_list": b"[1, 2, 3]",
    "steps_a_list": b'{"steps": ["layers/stale.csv"]}',
    "step_an_int": b'{"steps": {"layers": 3}}',
    "entry_types": b'{"steps": {"layers": {"layers/stale.csv": 5, "": "x"}}}',
    "nul_in_path": b'{"steps": {"layers": {"layers/stale.csv\\u0000x": "00"}}}',
    "deeply_nested": b"[" * 200_000 + b"]" * 200_000,
    "huge": b'{"steps": {"layers": ["' + b"a" * (pipeline.MAX_MANIFEST_BYTES + 10) + b'"]}}',
}


@pytest.mark.parametrize("kind", sorted(_BAD_MANIFESTS))
def test_malformed_manifest_is_a_warning(tmp_path, layers_run, kind):
    out = _copy_run(layers_run, tmp_path / "out")
    (out / "layers" / "stale.csv").write_text("x", encoding="utf-8")
    (out / pipeline.MANIFEST).write_bytes(_BAD_MANIFESTS[kind])
    with pytest.warns(pipeline.ManifestWarning):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert (out / "layers" / "stale.csv").exists()
    json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))  # a good one replaces it


def test_malformed_manifest_cli_is_one_warning_line(runner, tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    (out / pipeline.MANIFEST).write_bytes(b"[" * 200_000)
    with warnings.catch_warnings():
        warnings.simplefilter("always", pipeline.ManifestWarning)
        res = runner.invoke(cli, ["reproduce", "-o", str(out), "--steps", "layers", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert res.output.count("not a geocity manifest") == 1, res.output  # not also as a log line
    assert "Warning: " in res.output and "Traceback" not in res.output


def test_manifest_link_to_outside_is_not_followed(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"steps": {"layers": {"layers/cities.gpkg": "0" * 64}}}), encoding="utf-8")
    (out / pipeline.MANIFEST).unlink()
    (out / pipeline.MANIFEST).symlink_to(outside)
    before = outside.read_bytes()
    with pytest.warns(pipeline.ManifestWarning, match="not a regular file"):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert outside.read_bytes() == before
    assert not (out / pipeline.MANIFEST).is_symlink()


def test_step_folder_linked_outside_is_refused(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    import shutil

    shutil.move(out / "layers", tmp_path / "elsewhere")
    (out / "layers").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    before = {p: _sha(tmp_path / "elsewhere" / p) for p in os.listdir(tmp_path / "elsewhere")}
    listing = _tree(tmp_path)
    with pytest.raises(ValidationError, match="symbolic link out of the output folder"):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert _tree(tmp_path) == listing
    assert {p: _sha(tmp_path / "elsewhere" / p) for p in before} == before


# --------------------------------------------------------------------------
# every option is checked before the first byte
# --------------------------------------------------------------------------
_BAD_OPTIONS = [
    ({"steps": ["layers", "corridors"], "within_km": -5}, "within_km"),
    ({"steps": ["layers", "corridors"], "within_km": 0}, "within_km"),
    ({"steps": ["layers", "corridors"], "within_km": float("nan")}, "within_km"),
    ({"steps": ["layers", "corridors"], "within_km": float("inf")}, "within_km"),
    ({"steps": ["layers", "corridors"], "within_km": 1e9}, "within_km"),
    ({"steps": ["layers", "corridors"], "within_km": "abc"}, "within_km"),
    ({"steps": ["layers", "corridors"], "within_km": True}, "within_km"),
    ({"steps": ["layers", "figures"], "lang": "fr"}, "lang"),
    ({"steps": ["layers", "figures"], "formats": ["xyz"]}, "format"),
    ({"steps": ["layers", "figures"], "formats": []}, "format"),
    ({"steps": ["layers", "nope"]}, "valid steps"),
    ({"steps": []}, "steps"),
    ({"steps": ["layers", 3]}, "valid steps"),
    ({"steps": 3}, "steps"),
]


@pytest.mark.parametrize("kwargs,needle", _BAD_OPTIONS, ids=[f"{n}-{i}" for i, (_, n) in enumerate(_BAD_OPTIONS)])
def test_bad_option_fails_before_writing_api(tmp_path, kwargs, needle):
    listing = _tree(tmp_path)
    with pytest.raises(GeocityError, match=needle):
        pipeline.reproduce(tmp_path / "rep", **kwargs)
    assert _tree(tmp_path) == listing  # not even the folder


def test_bad_option_fails_before_writing_into_existing_output(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    listing, manifest = _tree(tmp_path), (out / pipeline.MANIFEST).read_bytes()
    with pytest.raises(ValidationError, match="within_km"):
        pipeline.reproduce(out, steps=["layers", "corridors"], within_km=-5, overwrite=True)
    assert _tree(tmp_path) == listing and (out / pipeline.MANIFEST).read_bytes() == manifest


@pytest.mark.parametrize("args,needle", [
    (["--steps", "layers,corridors", "--within-km", "-5"], "within_km"),
    (["--steps", "layers,corridors", "--within-km", "1e9"], "within_km"),
    (["--steps", "layers,figures", "--lang", "fr"], "'fr'"),
    (["--steps", "layers,figures", "--format", "xyz"], "'xyz'"),
    (["--steps", "layers,nope"], "nope"),
    (["--steps", ","], "steps"),
])
def test_bad_option_fails_before_writing_cli(runner, tmp_path, args, needle):
    listing = _tree(tmp_path)
    res = runner.invoke(cli, ["reproduce", "-o", str(tmp_path / "rep"), *args])
    _plain_failure(res, needle)
    assert _tree(tmp_path) == listing


# --------------------------------------------------------------------------
# output folders that cannot be made: a message naming the path, nothing created
# --------------------------------------------------------------------------
def _out_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    f = tmp_path / "a_file.txt"
    f.write_text("x", encoding="utf-8")
    return {
        "proc": (Path("/proc/geocity_x/rep"), "/proc/geocity_x/rep"),
        "file_as_parent": (f / "sub", "a_file.txt"),
        "file_as_output": (f, "a_file.txt"),
    }


@pytest.mark.parametrize("case", ["proc", "file_as_parent", "file_as_output"])
def test_unmakeable_output_api(tmp_path, case):
    out, needle = _out_cases(tmp_path)[case]
    listing = _tree(tmp_path)
    with pytest.raises(ValidationError, match=needle) as exc:
        pipeline.reproduce(out, steps=["layers"])
    assert "choose" in str(exc.value)
    assert _tree(tmp_path) == listing


@pytest.mark.parametrize("case", ["proc", "file_as_parent", "file_as_output"])
def test_unmakeable_output_cli(runner, tmp_path, case):
    out, needle = _out_cases(tmp_path)[case]
    listing = _tree(tmp_path)
    res = runner.invoke(cli, ["reproduce", "-o", str(out), "--steps", "layers"])
    _plain_failure(res, needle)
    assert _tree(tmp_path) == listing


def test_read_only_parent(runner, tmp_path, monkeypatch):
    """A folder the user cannot write to (mocked: root may write anywhere)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if Path(p) == ro else real(p, m, **k))
    listing = _tree(tmp_path)
    with pytest.raises(ValidationError, match="ro' is not writable"):
        pipeline.reproduce(ro / "rep", steps=["layers"])
    res = runner.invoke(cli, ["reproduce", "-o", str(ro / "rep"), "--steps", "layers"])
    _plain_failure(res, str(ro), "permission denied")
    assert _tree(tmp_path) == listing


def test_mkdir_permission_error_is_a_message(runner, tmp_path, monkeypatch):
    def refuse(self, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    res = runner.invoke(cli, ["reproduce", "-o", str(tmp_path / "rep"), "--steps", "layers"])
    _plain_failure(res, str(tmp_path / "rep"), "Permission denied")
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize("step,where,kind", [("layers", "layers", "file"), ("webmap", "map.html", "folder")])
def test_wrong_kind_inside_output(tmp_path, layers_run, step, where, kind):
    out = _copy_run(layers_run, tmp_path / "out")
    if kind == "file":
        import shutil

        shutil.rmtree(out / where)
        (out / where).write_text("not a folder", encoding="utf-8")
    else:
        (out / where).mkdir()
    listing = _tree(tmp_path)
    with pytest.raises(ValidationError, match=f"is a {kind}"):
        pipeline.reproduce(out, steps=[step], overwrite=True)
    assert _tree(tmp_path) == listing


def test_existing_output_still_refused_without_overwrite(tmp_path, layers_run):
    out = _copy_run(layers_run, tmp_path / "out")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        pipeline.reproduce(out, steps=["layers"], within_km=50)


# --------------------------------------------------------------------------
# the CLI's safety net for file-system errors
# --------------------------------------------------------------------------
@pytest.mark.parametrize("exc,needle", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/out/x.tif"), "/data/out/x.tif: No space left"),
    (PermissionError(errno.EACCES, "Permission denied", "/data/out"), "/data/out: Permission denied"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/out/map.html"), "/data/out/map.html: Is a directory"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/f/sub"), "/data/f/sub: Not a directory"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/gone"), "/gone: No such file"),
])
def test_cli_turns_file_system_errors_into_a_message(runner, monkeypatch, tmp_path, exc, needle):
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(pipeline, "reproduce", boom)
    res = runner.invoke(cli, ["reproduce", "-o", str(tmp_path / "rep")])
    assert res.exit_code == 1
    _plain_failure(res, f"Error: {needle}")


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), ConnectionRefusedError(errno.ECONNREFUSED, "refused")])
def test_cli_keeps_tracebacks_of_bugs(runner, monkeypatch, tmp_path, exc):
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(pipeline, "reproduce", boom)
    res = runner.invoke(cli, ["reproduce", "-o", str(tmp_path / "rep")])
    assert res.exception is exc  # not turned into a user message


# --------------------------------------------------------------------------
# geocity figures: bad basemap / scores / output, before anything is made
# --------------------------------------------------------------------------
def _figure_inputs(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "in"
    d.mkdir()
    (d / "points.csv").write_text("lon,lat\n1,2\n3,4\n", encoding="utf-8")
    (d / "nogeo.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (d / "empty.gpkg").write_bytes(b"")
    (d / "points.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]}),
        encoding="utf-8")
    (d / "badscores.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    (d / "emptyscores.csv").write_bytes(b"")
    (d / "binary.csv").write_bytes(b"\xff\xfe\x00bad")
    return {p.name: p for p in d.iterdir()}


@pytest.mark.parametrize("opt,name,needle", [
    ("--basemap", "points.csv", "without geometry"),
    ("--basemap", "nogeo.csv", "without geometry"),
    ("--basemap", "empty.gpkg", "cannot read"),
    ("--basemap", "points.geojson", "no polygons"),
    ("--scores", "badscores.csv", "city_id"),
    ("--scores", "emptyscores.csv", "emptyscores.csv"),
    ("--scores", "binary.csv", "binary.csv"),
])
def test_figures_bad_input_cli(runner, tmp_path, opt, name, needle):
    inputs = _figure_inputs(tmp_path)
    listing = _tree(tmp_path)
    res = runner.invoke(cli, ["figures", "2-3", opt, str(inputs[name]), "-o", str(tmp_path / "figs"), "-q"])
    _plain_failure(res, needle)
    if opt == "--basemap":
        assert name in res.output
    assert _tree(tmp_path) == listing  # the output folder was not created


@pytest.mark.parametrize("name", ["points.csv", "empty.gpkg"])
def test_figures_bad_basemap_api(tmp_path, name):
    inputs = _figure_inputs(tmp_path)
    listing = _tree(tmp_path)
    for call in (figures.render_all, lambda out, **k: figures.render("2-3", out, **k)):
        with pytest.raises(ValidationError, match=name):
            call(tmp_path / "figs", names=["2-3"], basemap=inputs[name]) if call is figures.render_all \
                else call(tmp_path / "figs", basemap=inputs[name])
    with pytest.raises(GeocityError):
        figures.render_all(tmp_path / "figs", names=["2-3"], basemap=tmp_path / "in")  # a folder
    assert _tree(tmp_path) == listing


@pytest.mark.parametrize("out", ["/proc/geocity_x", "FILE/sub"])
def test_figures_unmakeable_output(runner, tmp_path, out):
    (tmp_path / "FILE").write_text("x", encoding="utf-8")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    listing = _tree(tmp_path)
    res = runner.invoke(cli, ["figures", "2-3", "-o", out, "-q"])
    _plain_failure(res, out)
    assert _tree(tmp_path) == listing

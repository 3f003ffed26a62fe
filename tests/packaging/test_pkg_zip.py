"""Zipped nnpackages: opened and run like directories; unsafe archives are refused before
anything lands outside the temporary directory."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pkgtools import assert_one_line_error, norm_ref, run_one

import one_core
from one_core.errors import InvalidModelError
from one_core.packaging import ZipLimits, open_package, pack


def _zip_dir(src: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(src.rglob("*")):
            if file.is_file():
                zf.write(file, prefix + file.relative_to(src).as_posix())
    return archive


def _snapshot(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def package(models: dict[str, Path], tmp_path: Path) -> Path:
    return pack([models["norm"]], tmp_path / "out")


@pytest.mark.parametrize("prefix", ["", "norm/"])  # files at the top, or in one folder (zip -r norm.zip norm)
def test_zip_opens_runs_and_cleans_up(package: Path, tmp_path: Path, prefix: str) -> None:
    archive = _zip_dir(package, tmp_path / "norm.nnpkg.zip", prefix)
    work = tmp_path / "work"
    work.mkdir()
    with open_package(archive, workdir=work) as pkg:
        assert pkg.manifest.models == ["norm.circle"] and pkg.root.is_relative_to(work)
        assert (pkg.root / "norm.circle").is_file()
    assert list(work.iterdir()) == []  # the extracted copy is gone

    x = np.random.default_rng(0).standard_normal((1, 2, 8)).astype(np.float32)
    session = one_core.Session(archive)
    assert session.package is not None and session.package.path == archive
    (y,) = session.run([x]).values()
    np.testing.assert_allclose(y, norm_ref(x, np.linspace(0.5, 2, 8, dtype=np.float32)), rtol=1e-5, atol=1e-6)


def test_unpack_command(package: Path, tmp_path: Path) -> None:
    archive = _zip_dir(package, tmp_path / "norm.zip", "norm/")
    out = tmp_path / "unpacked"
    result = run_one("unpack", archive, "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}: 1 model(s), MANIFEST 1.3.0\n"
    assert sorted(_snapshot(out)) == ["metadata", "metadata/MANIFEST", "norm.circle"]
    assert (out / "norm.circle").read_bytes() == (package / "norm.circle").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    assert_one_line_error(run_one("unpack", archive, "-o", out), f"{out}: exists and is not an empty directory")


def _evil_zip(path: Path, kind: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata/MANIFEST", '{"major-version":"1","minor-version":"3","patch-version":"0",'
                                         '"models":["m.circle"],"model-types":["circle"]}')
        if kind == "absolute":
            zf.writestr("/tmp/one-evil-absolute", b"x")
        elif kind == "dotdot":
            zf.writestr("../x", b"x")
        elif kind == "nested-dotdot":
            zf.writestr("metadata/../../escape", b"x")
        elif kind == "backslash":
            zf.writestr("..\\..\\escape", b"x")
        elif kind == "symlink":
            info = zipfile.ZipInfo("link")
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
        elif kind == "oversized":
            zf.writestr("m.circle", b"\0" * 5000)
        elif kind == "entries":
            for i in range(20):
                zf.writestr(f"f{i}", b"")
        elif kind == "duplicate":
            zf.writestr("m.circle", b"a")
            zf.writestr("m.circle", b"b")
    return path


EVIL = [
    ("absolute", "entry '/tmp/one-evil-absolute' has an absolute path"),
    ("dotdot", "entry '../x' leaves the package ('..')"),
    ("nested-dotdot", "entry 'metadata/../../escape' leaves the package ('..')"),
    ("backslash", "leaves the package ('..')"),
    ("symlink", "entry 'link' is a symbolic link"),
    ("oversized", "bytes uncompressed, more than the limit of 4096 bytes"),
    ("entries", "entries, more than the limit of 10"),
    ("duplicate", "entry 'm.circle' appears twice"),
]


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(("kind", "message"), EVIL)
def test_unsafe_zips_are_refused(tmp_path: Path, kind: str, message: str) -> None:
    archive = _evil_zip(tmp_path / f"{kind}.zip", kind)
    work = tmp_path / "work"
    work.mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(InvalidModelError) as info:
        open_package(archive, limits=ZipLimits(max_total_bytes=4096, max_entries=10), workdir=work)
    assert str(info.value).startswith(f"{archive}: ") and message in str(info.value)
    assert _snapshot(tmp_path) == before  # nothing written anywhere, the temporary directory removed
    assert not Path("/tmp/one-evil-absolute").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(("kind", "message"), EVIL)
def test_unpack_refuses_unsafe_zips(tmp_path: Path, kind: str, message: str) -> None:
    archive = _evil_zip(tmp_path / f"{kind}.zip", kind)
    out = tmp_path / "dest" / "pkg"
    out.parent.mkdir()
    result = run_one("unpack", archive, "-o", out, "--max-size", "4096", "--max-entries", "10")
    assert_one_line_error(result, f"error: {archive}: ", message)
    assert list(out.parent.iterdir()) == []  # neither the package nor a temporary directory
    assert not (tmp_path / "x").exists() and not (tmp_path / "escape").exists()


def test_default_limits_and_bad_archives(tmp_path: Path) -> None:
    assert ZipLimits().max_total_bytes == 4 << 30 and ZipLimits().max_entries == 10_000
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + os.urandom(64))
    result = run_one("inspect", bad)
    assert_one_line_error(result, f"{bad}: not a valid zip archive")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert_one_line_error(run_one("run", empty), f"{empty}: not an nnpackage: no metadata/MANIFEST")


def test_invalid_zipped_package_leaves_no_temporary(package: Path, tmp_path: Path) -> None:
    (package / "metadata/MANIFEST").write_text(
        '{"major-version":"1","minor-version":"3","patch-version":"0","models":["norm.circle"],'
        '"model-types":["circle"],"pkg-outputs":["0:0:4"]}')
    archive = _zip_dir(package, tmp_path / "bad.zip")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(InvalidModelError, match=r"pkg-outputs\[0\] 0:0:4: .* no output 4$"):
        open_package(archive, workdir=work)
    assert list(work.iterdir()) == []

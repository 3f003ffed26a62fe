"""Safe extraction of zipped nnpackages.

Every entry is checked before anything is written: no absolute paths or drive letters, no `..`,
no symbolic links or other special files, no duplicates, no encryption; the number of entries
and the total uncompressed size are limited, and the bytes actually decompressed are counted
too, so an archive that lies about its sizes stops at the limit. Files are created exclusively
(never through an existing path) inside a fresh directory.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, InvalidModelError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """How much a zipped package may hold once extracted."""

    max_total_bytes: int = 4 << 30
    max_entries: int = 10_000


DEFAULT_LIMITS = ZipLimits()


def is_zip(path: Path) -> bool:
    """True for a file that starts like a zip archive (any extension: .zip, .nnpkg, ...)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def extract_zip(archive: Path, dest: Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
    """Extract `archive` into the existing, empty directory `dest`, refusing unsafe entries.

    Raises InvalidModelError naming the archive and the entry; on error `dest` may hold part of
    the archive (callers extract into a temporary directory and remove it)."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InvalidModelError(f"{archive}: not a valid zip archive ({exc})") from None
    except OSError as exc:
        raise InputError(f"{archive}: cannot open ({exc.strerror or exc})") from None
    with zf:
        entries = _check_entries(archive, zf.infolist(), limits)
        budget = limits.max_total_bytes
        for info, parts in entries:
            target = dest.joinpath(*parts)
            try:
                if info.is_dir():
                    _refuse_links(dest, parts + [""], archive, info.filename)
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                _refuse_links(dest, parts, archive, info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                budget = _extract_file(zf, info, target, budget, archive, limits)
            except OSError as exc:
                raise InvalidModelError(
                    f"{archive}: cannot extract entry '{info.filename}' ({exc.strerror or exc})"
                ) from None


def extract_to_temp(archive: Path, limits: ZipLimits = DEFAULT_LIMITS, workdir: Path | None = None) -> Path:
    """Extract into a new temporary directory (under `workdir`, default the system's) and return
    it; removed again when extraction fails."""
    tmp = Path(tempfile.mkdtemp(prefix="one-nnpkg-", dir=workdir))
    try:
        extract_zip(archive, tmp, limits)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _check_entries(
    archive: Path, infos: list[zipfile.ZipInfo], limits: ZipLimits
) -> list[tuple[zipfile.ZipInfo, list[str]]]:
    if len(infos) > limits.max_entries:
        raise InvalidModelError(
            f"{archive}: {len(infos)} entries, more than the limit of {limits.max_entries}"
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_total_bytes:
        raise InvalidModelError(
            f"{archive}: {total} bytes uncompressed, more than the limit of {limits.max_total_bytes} bytes"
        )
    seen: set[tuple[str, ...]] = set()
    out = []
    for info in infos:
        name = info.filename
        if "\0" in name:
            raise InvalidModelError(f"{archive}: entry {name!r} has a NUL character in its name")
        normalized = name.replace("\\", "/")
        if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
            raise InvalidModelError(f"{archive}: entry '{name}' has an absolute path")
        parts = [p for p in normalized.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise InvalidModelError(f"{archive}: entry '{name}' leaves the package ('..')")
        if not parts:
            raise InvalidModelError(f"{archive}: entry '{name}' has an empty path")
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_IFMT(mode):  # made on Unix: the mode is meaningful
            if stat.S_ISLNK(mode):
                raise InvalidModelError(f"{archive}: entry '{name}' is a symbolic link")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise InvalidModelError(f"{archive}: entry '{name}' is not a regular file or directory")
        if info.flag_bits & 0x1:
            raise InvalidModelError(f"{archive}: entry '{name}' is encrypted")
        key = tuple(parts)
        if key in seen and not info.is_dir():
            raise InvalidModelError(f"{archive}: entry '{name}' appears twice")
        seen.add(key)
        out.append((info, parts))
    return out


def _refuse_links(dest: Path, parts: list[str], archive: Path, name: str) -> None:
    """No directory on the way to a file may be a link (we create none, but be sure)."""
    here = dest
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise InvalidModelError(f"{archive}: entry '{name}' goes through a link")


def _extract_file(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int, archive: Path, limits: ZipLimits
) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        raise InvalidModelError(f"{archive}: entry '{info.filename}' appears twice") from None
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                budget -= len(chunk)
                if budget < 0:
                    raise InvalidModelError(
                        f"{archive}: more than {limits.max_total_bytes} bytes uncompressed (limit reached "
                        f"in entry '{info.filename}')"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InvalidModelError(f"{archive}: cannot extract entry '{info.filename}' ({exc})") from None
    return budget

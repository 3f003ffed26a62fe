"""Compile a generated project into a shared library with the system C compiler, cached.

The cache key is the digest of every generated file plus the compiler and its flags, so a
model is compiled once per machine; the library lives under ONE_CODEGEN_CACHE (default
~/.cache/one-toolchain/codegen)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from hashlib import sha256
from pathlib import Path

from one_core.errors import OneError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .generate import GeneratedProject

#: Flags of the library the Python backend loads (ONE_CODEGEN_CFLAGS overrides them).
DEFAULT_CFLAGS = "-std=c99 -O3 -march=native -Wall -Wextra -Werror -pedantic -fPIC"


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise OneError("no C compiler found (set CC): the codegen backend compiles generated C")
    return cc


def cache_root() -> Path:
    root = os.environ.get("ONE_CODEGEN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "one-toolchain" / "codegen"


def build_shared(project: GeneratedProject, cflags: str | None = None) -> Path:
    """The path of the compiled shared library of `project` (built now unless cached)."""
    cc = compiler()
    flags = cflags if cflags is not None else os.environ.get("ONE_CODEGEN_CFLAGS", DEFAULT_CFLAGS)
    key = sha256(f"{project.digest}|{cc}|{flags}".encode()).hexdigest()[:24]
    lib = cache_root() / key / f"lib{project.name}.so"
    if lib.exists():
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        src = Path(tmp) / "src"
        for rel, data in project.files.items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(data)
        out = Path(tmp) / lib.name
        cmd = [cc, *shlex.split(flags), "-shared", "-o", str(out),
               *(str(src / s) for s in project.library_sources), "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip().splitlines()
            raise OneError(f"compiling generated code for '{project.name}' failed: "
                           f"{message[0] if message else 'exit ' + str(done.returncode)}")
        os.replace(out, lib)
    return lib

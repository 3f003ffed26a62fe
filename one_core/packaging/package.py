"""Opening nnpackages (directories and zip files) and writing them.

    pkg = open_package("out/mymodel")        # or "mymodel.zip"
    pkg.manifest.models, pkg.model_paths, pkg.config, pkg.test_inputs
    path = pack(["a.circle"], Path("out"))    # out/a/{a.circle, metadata/MANIFEST}

Layout (ONE's spec):

    NAME/
      MODEL.circle ...          the models, paths as listed in the MANIFEST
      metadata/MANIFEST         JSON, see `manifest.py`
      metadata/CONFIG.cfg       optional runtime configuration (KEY=VALUE lines)
      metadata/tc/input.h5      optional test inputs (ONE's h5 layout: group value, datasets 0..n-1)
      metadata/tc/expected.h5   optional expected outputs
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..circle.reader import (
    CIRCLE_IDENTIFIER,
    TFLITE_IDENTIFIER,
    read_identifier,
    read_model,
)
from ..errors import InputError, InvalidModelError
from ..ir.model import Model
from .archive import DEFAULT_LIMITS, ZipLimits, extract_to_temp, is_zip
from .manifest import (
    WRITE_VERSION,
    Connection,
    IODesc,
    Manifest,
    model_type_of,
    parse_config,
)
from .wiring import package_io_names, plan_wiring

MANIFEST_PATH = "metadata/MANIFEST"
TEST_INPUTS = "metadata/tc/input.h5"
TEST_EXPECTED = "metadata/tc/expected.h5"
_MAX_MANIFEST_BYTES = 16 << 20


class Package:
    """An opened nnpackage. For a zip file, `root` is a temporary directory holding the
    extracted files, removed by `close()` (or when the Package is garbage collected)."""

    def __init__(self, path: Path, root: Path, manifest: Manifest, configs: dict[str, dict[str, str]],
                 temp_dir: Path | None = None) -> None:
        self.path = path
        self.root = root
        self.manifest = manifest
        #: Each config file's KEY=VALUE pairs, by file name (ONE's runtime reads the first).
        self.configs = configs
        self._models: list[Model] | None = None
        self._temp_dir = temp_dir
        self._cleanup = (weakref.finalize(self, shutil.rmtree, str(temp_dir), True)
                         if temp_dir is not None else None)

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def model_paths(self) -> list[Path]:
        return [self.root / p for p in self.manifest.models]

    @property
    def model_types(self) -> list[str]:
        return list(self.manifest.model_types)

    @property
    def config(self) -> dict[str, str]:
        """The first config file's values (the one ONE's runtime applies), or {}."""
        return next(iter(self.configs.values()), {})

    @property
    def test_inputs(self) -> Path | None:
        p = self.root / TEST_INPUTS
        return p if p.is_file() else None

    @property
    def test_expected(self) -> Path | None:
        p = self.root / TEST_EXPECTED
        return p if p.is_file() else None

    def models(self) -> list[Model]:
        """The models, read once (constants are views of the files)."""
        if self._models is None:
            self._models = [_read(self.label, p, rel) for p, rel in zip(self.model_paths, self.manifest.models)]
        return self._models

    def io_names(self) -> tuple[list[str], list[str]]:
        """Names of the package's inputs and outputs, in order."""
        return package_io_names(self.manifest, self.models())

    def close(self) -> None:
        """Remove the temporary directory of a zipped package."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Package:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Package {self.label}: {len(self.manifest.models)} model(s), MANIFEST {self.manifest.version_string}>"


def is_package(source: Any) -> bool:
    """True when `source` is a path to an nnpackage: a directory with a `metadata` folder, or
    a zip archive. (A directory without `metadata` may be something a frontend reads.)"""
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source)
    if path.is_dir():
        return (path / "metadata").is_dir()
    return path.is_file() and is_zip(path)


def open_package(path: str | os.PathLike[str], *, limits: ZipLimits = DEFAULT_LIMITS,
                 workdir: Path | None = None, check_models: bool = True) -> Package:
    """Open and validate an nnpackage directory or zip file.

    Checks: MANIFEST present and valid, every model and config file present inside the package,
    model types known, and (with `check_models`) the models readable and every MODEL:SUBGRAPH:IO
    triple in range. Zip files are extracted safely under `workdir` (default: the system's
    temporary directory) within `limits`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    temp_dir = None
    if path.is_dir():
        root = path
    elif is_zip(path):
        temp_dir = extract_to_temp(path, limits, workdir)
        root = _find_root(path, temp_dir)
    else:
        raise InvalidModelError(f"{path}: not an nnpackage (expected a directory or a zip archive)")
    try:
        manifest, configs = _validate(path, root)
        package = Package(path, root, manifest, configs, temp_dir)
        temp_dir = None  # the package owns it now
        if check_models:
            try:
                models = package.models()
                counts = [[(len(sg.inputs), len(sg.outputs)) for sg in m.subgraphs] for m in models]
                manifest.check_io(counts, f"{path}: {MANIFEST_PATH}")
                if manifest.is_multi_model:
                    plan_wiring(manifest, models, str(path))
            except BaseException:
                package.close()
                raise
        return package
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _find_root(archive: Path, extracted: Path) -> Path:
    """The package root inside an extracted zip: the top, or its only folder holding metadata/."""
    if (extracted / MANIFEST_PATH).is_file():
        return extracted
    found = [d for d in extracted.iterdir() if d.is_dir() and not d.is_symlink() and (d / MANIFEST_PATH).is_file()]
    if len(found) == 1:
        return found[0]
    shutil.rmtree(extracted, ignore_errors=True)
    if found:
        raise InvalidModelError(f"{archive}: holds {len(found)} packages ({', '.join(sorted(d.name for d in found))}); expected one")
    raise InvalidModelError(f"{archive}: not an nnpackage: no {MANIFEST_PATH} (at the top or in one top-level folder)")


def _validate(path: Path, root: Path) -> tuple[Manifest, dict[str, dict[str, str]]]:
    manifest_file = root / MANIFEST_PATH
    label = f"{path}: {MANIFEST_PATH}"
    if not manifest_file.is_file():
        raise InvalidModelError(f"{path}: not an nnpackage: {MANIFEST_PATH} is missing")
    if manifest_file.stat().st_size > _MAX_MANIFEST_BYTES:
        raise InvalidModelError(f"{label}: larger than {_MAX_MANIFEST_BYTES} bytes")
    manifest = Manifest.parse(manifest_file.read_bytes(), label)
    real_root = root.resolve()
    for i, rel in enumerate(manifest.models):
        _inside(path, real_root, root / rel, f"model '{rel}'")
    configs = {}
    for name in manifest.configs:
        file = root / "metadata" / name
        _inside(path, real_root, file, f"config 'metadata/{name}'")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InvalidModelError(f"{path}: config 'metadata/{name}' is not UTF-8 text") from None
        configs[name] = parse_config(text, f"{path}: metadata/{name}")
    return manifest, configs


def _inside(path: Path, real_root: Path, file: Path, what: str) -> None:
    if not file.is_file():
        raise InvalidModelError(f"{path}: {what} listed in {MANIFEST_PATH} is missing")
    real = file.resolve()
    if real != real_root and real_root not in real.parents:
        raise InvalidModelError(f"{path}: {what} points outside the package")


def _read(label: str, file: Path, rel: str) -> Model:
    try:
        model = read_model(file)
    except InvalidModelError as exc:
        raise InvalidModelError(f"{label}: model '{rel}': {exc}") from None
    model.source = f"{label}/{rel}"
    return model


# -- writing ----------------------------------------------------------------------------------

#: Test data given as a file (.h5 in ONE's layout, or .npz), tensors by name, or tensors in order.
Tensors = str | os.PathLike | Mapping[str, np.ndarray] | Sequence[np.ndarray]


@dataclass(frozen=True)
class RandomTestData:
    """Ask `pack` to make the test data: seeded random inputs (as `one run --seed` draws them)
    run on a backend (default: the first installed), outputs stored as expected."""

    seed: int = 0
    backend: str | None = None


def pack(
    models: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    config: str | os.PathLike[str] | None = None,
    connect: Sequence[Connection | str] | None = None,
    pkg_inputs: Sequence[IODesc | str] | None = None,
    pkg_outputs: Sequence[IODesc | str] | None = None,
    test_data: tuple[Tensors, Tensors] | RandomTestData | None = None,
) -> Path:
    """Write an nnpackage `out_dir/NAME` (NAME defaults to the first model's file stem, as ONE's
    one-pack and model2nnpkg do) and return its path.

    The package is built in a temporary directory beside it and renamed into place; an existing
    package of that name is replaced, anything else there is left alone (an error). With several
    models, `connect` ("M:S:O=M:S:I[,M:S:I...]" or Connection) wires outputs to inputs; when
    `pkg_inputs` or `pkg_outputs` are not given they become, in model order, the inputs no
    connection feeds and the outputs no connection reads."""
    sources = [Path(m) for m in models]
    if not sources:
        raise InputError("pack: no model given")
    for src in sources:
        if not src.is_file():
            raise InputError(f"{src}: no such file")
    names = [s.name for s in sources]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise InputError(f"pack: two models have the same file name {', '.join(dups)}; rename one")
    types = [_type_of(s) for s in sources]
    ir = [_read(str(s), s, s.name) for s in sources]
    connections = _connections(connect or [])
    ins = [d if isinstance(d, IODesc) else IODesc.parse(d, "--pkg-input") for d in pkg_inputs or []]
    outs = [d if isinstance(d, IODesc) else IODesc.parse(d, "--pkg-output") for d in pkg_outputs or []]
    if connections and len(sources) < 2:
        raise InputError("pack: model-connect needs two or more models")
    if len(sources) > 1 and (connections or ins or outs):
        if not ins:
            ins = _unfed_inputs(ir, connections)
        if not outs:
            outs = _unread_outputs(ir, connections)
    config_path = Path(config) if config is not None else None
    configs = []
    if config_path is not None:
        if not config_path.is_file():
            raise InputError(f"{config_path}: no such file")
        parse_config(config_path.read_text(encoding="utf-8"), str(config_path))
        configs = [config_path.name]
    manifest = Manifest(names, types, configs, ins, outs, connections, WRITE_VERSION)
    pkg_name = name or sources[0].stem
    if not pkg_name or "/" in pkg_name or "\\" in pkg_name or pkg_name in (".", ".."):
        raise InputError(f"pack: '{pkg_name}' is not a valid package name (a plain directory name)")
    out = Path(out_dir)
    target = out / pkg_name
    label = str(target)
    manifest.check_structure(label)
    manifest.check_io([[(len(sg.inputs), len(sg.outputs)) for sg in m.subgraphs] for m in ir], label)
    if manifest.is_multi_model:
        plan_wiring(manifest, ir, label)
    if target.exists() and not (target.is_dir() and (target / MANIFEST_PATH).is_file()):
        raise InputError(f"{target}: exists and is not an nnpackage; not overwriting it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create directory ({exc.strerror or exc})") from None
    staging = Path(tempfile.mkdtemp(prefix=f".{pkg_name}.", suffix=".tmp", dir=out))
    try:
        (staging / "metadata").mkdir()
        for src, n in zip(sources, names):
            shutil.copyfile(src, staging / n)
        if config_path is not None:
            shutil.copyfile(config_path, staging / "metadata" / config_path.name)
        (staging / MANIFEST_PATH).write_text(manifest.to_json(), encoding="utf-8")
        if test_data is not None:
            _write_test_data(staging, manifest, ir, test_data, label)
        _replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _type_of(path: Path) -> str:
    try:
        return model_type_of(path.name)
    except InvalidModelError:
        ident = read_identifier(path)
        if ident == CIRCLE_IDENTIFIER:
            return "circle"
        if ident == TFLITE_IDENTIFIER:
            return "tflite"
        raise InputError(f"{path}: not a circle or TFLite model (expected .circle or .tflite)") from None


def _connections(items: Sequence[Connection | str]) -> list[Connection]:
    merged: dict[IODesc, list[IODesc]] = {}
    for item in items:
        if isinstance(item, Connection):
            source, targets = item.source, list(item.targets)
        else:
            left, sep, right = str(item).partition("=")
            if not sep or not right.strip():
                raise InputError(f"--connect '{item}': expected FROM=TO[,TO...] such as 0:0:0=1:0:0")
            source = IODesc.parse(left, f"--connect '{item}'")
            targets = [IODesc.parse(t, f"--connect '{item}'") for t in right.split(",")]
        known = merged.setdefault(source, [])
        for t in targets:
            if t not in known:
                known.append(t)
    return [Connection(s, t) for s, t in merged.items()]


def _unfed_inputs(models: list[Model], connections: list[Connection]) -> list[IODesc]:
    fed = {t for c in connections for t in c.targets}
    return [IODesc(m, 0, i) for m, model in enumerate(models) for i in range(len(model.main.inputs))
            if IODesc(m, 0, i) not in fed]


def _unread_outputs(models: list[Model], connections: list[Connection]) -> list[IODesc]:
    read = {c.source for c in connections}
    return [IODesc(m, 0, i) for m, model in enumerate(models) for i in range(len(model.main.outputs))
            if IODesc(m, 0, i) not in read]


def _write_test_data(staging: Path, manifest: Manifest, models: list[Model],
                     test_data: tuple[Tensors, Tensors] | RandomTestData, label: str) -> None:
    from ..tensorio import write_tensors

    tc = staging / "metadata" / "tc"
    tc.mkdir(parents=True, exist_ok=True)
    in_names, out_names = package_io_names(manifest, models)
    if isinstance(test_data, RandomTestData):
        inputs, expected = _random_test_data(staging, test_data)
    else:
        try:
            given_in, given_out = test_data
        except (TypeError, ValueError):
            raise InputError("pack: test_data is (inputs, expected) or RandomTestData") from None
        inputs = _tensors(given_in, in_names, "test inputs")
        expected = _tensors(given_out, out_names, "expected outputs")
    for file, tensors in (("input.h5", inputs), ("expected.h5", expected)):
        write_tensors(tc / file, tensors)
        os.chmod(tc / file, default_dir_mode() & 0o666)  # written via mkstemp: 0600


def _random_test_data(staging: Path, spec: RandomTestData) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    from ..api import Session
    from ..cli.run_command import random_inputs

    session = Session(staging, backend=spec.backend)
    try:
        arrays = random_inputs(session.inputs, spec.seed)
        inputs = {info.name: a for info, a in zip(session.inputs, arrays)}
        outputs = session.run(arrays)
    finally:
        if session.package is not None:
            session.package.close()
    return inputs, {k: np.asarray(v) for k, v in outputs.items()}


def _tensors(given: Tensors, names: list[str], what: str) -> dict[str, np.ndarray]:
    from ..tensorio import read_tensors

    if isinstance(given, (str, os.PathLike)):
        arrays = read_tensors(Path(given), names)
        return dict(zip(names, arrays))
    if isinstance(given, Mapping):
        missing = [n for n in names if n not in given]
        if missing:
            raise InputError(f"pack: {what} lack {', '.join(missing)} (expected {', '.join(names)})")
        return {n: np.asarray(given[n]) for n in names}
    arrays = list(given)
    if len(arrays) != len(names):
        raise InputError(f"pack: {len(arrays)} {what} given, the package has {len(names)}: {', '.join(names)}")
    return {n: np.asarray(a) for n, a in zip(names, arrays)}


def default_dir_mode() -> int:
    """The mode a new directory gets under the current umask (mkdtemp's are 0700)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _replace_dir(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`; an existing package there is moved aside first and then
    removed, so `target` is always either the old package or the new one."""
    os.chmod(staging, default_dir_mode())
    if not target.exists():
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    old.rmdir()
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "MANIFEST_PATH",
    "TEST_EXPECTED",
    "TEST_INPUTS",
    "Package",
    "RandomTestData",
    "is_package",
    "open_package",
    "pack",
]

"""ONE's nnpackage: MANIFEST, pack, open (directories and zip files), run several models wired
together, compare with stored test data.

    from one_core.packaging import open_package, pack
    path = pack(["enc.circle", "dec.circle"], "out", name="pipeline", connect=["0:0:0=1:0:0"])
    with open_package(path) as pkg:
        print(pkg.manifest.to_json())
"""

from .archive import DEFAULT_LIMITS, ZipLimits, extract_zip, is_zip
from .check import OutputCheck, compare_outputs
from .manifest import (
    MODEL_TYPES,
    WRITE_VERSION,
    Connection,
    IODesc,
    Manifest,
    model_type_of,
    parse_config,
)
from .package import (
    MANIFEST_PATH,
    TEST_EXPECTED,
    TEST_INPUTS,
    Package,
    RandomTestData,
    is_package,
    open_package,
    pack,
)
from .packager import NnpackagePackager
from .wiring import IOInfo, PackageExecutable, Wiring, package_io_names, plan_wiring

__all__ = [
    "DEFAULT_LIMITS",
    "MANIFEST_PATH",
    "MODEL_TYPES",
    "TEST_EXPECTED",
    "TEST_INPUTS",
    "WRITE_VERSION",
    "Connection",
    "IODesc",
    "IOInfo",
    "Manifest",
    "NnpackagePackager",
    "OutputCheck",
    "Package",
    "PackageExecutable",
    "RandomTestData",
    "Wiring",
    "ZipLimits",
    "compare_outputs",
    "extract_zip",
    "is_package",
    "is_zip",
    "model_type_of",
    "open_package",
    "pack",
    "package_io_names",
    "parse_config",
    "plan_wiring",
]

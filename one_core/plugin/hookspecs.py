"""The hooks every plugin may implement (pluggy project "one", entry-point group "one").

Each hook receives a registrar; items added through it are recorded with the plugin's name.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "one"
ENTRY_POINT_GROUP = "one"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def one_register_frontends(registry: Any) -> None:
    """Add Frontend objects: `registry.add(frontend)`."""


@hookspec
def one_register_backends(registry: Any) -> None:
    """Add Backend objects: `registry.add(backend)`."""


@hookspec
def one_register_passes(registry: Any) -> None:
    """Add circle2circle passes: `registry.add(pass_)`."""


@hookspec
def one_register_packagers(registry: Any) -> None:
    """Add Packager objects: `registry.add(packager)`."""


@hookspec
def one_register_quantizers(registry: Any) -> None:
    """Add quantizers, objects with a `name` and `quantize(model, calibration_data, dtype,
    granularity, **options)` returning the model quantized in place: `registry.add(q)`.
    `one_core.quantize` calls them."""


@hookspec
def one_register_build_steps(registry: Any) -> None:
    """Add onecc drivers (`one_core.build.Driver` objects named after ONE's cfg sections, such
    as `one-quantize`): `registry.add(driver)`. They take the place of the core's own driver
    for that section."""


@hookspec
def one_add_commands(cli: Any) -> None:
    """Add click commands to the `one` command group: `cli.add_command(command)`."""

"""Hook implementations: the quantizer behind `one_core.quantize`, the `one quantize` command
and onecc's `[one-quantize]` step."""

from __future__ import annotations

from typing import Any

from one_core.plugin import hookimpl

from .cli import quantize_command
from .quantize import quantize


@hookimpl
def one_add_commands(cli: Any) -> None:
    cli.add_command(quantize_command)


class MinMaxQuantizer:
    """ONE's record-minmax calibration and circle-quantizer (`one_quantizer.quantize`)."""

    name = "minmax"

    @staticmethod
    def quantize(model: Any, calibration_data: Any, dtype: str | None = None, granularity: str | None = None,
                 **options: Any) -> Any:
        return quantize(model, calibration_data, dtype, granularity, **options)


@hookimpl
def one_register_quantizers(registry: Any) -> None:
    registry.add(MinMaxQuantizer())


@hookimpl
def one_register_build_steps(registry: Any) -> None:
    from .build_step import QuantizeDriver

    registry.add(QuantizeDriver())

"""ONE's circle2circle passes (luci's optimization passes), under ONE's option names.

`one passes` lists them; `one optimize MODEL -o OUT -O1` or `one_core.optimize(model)` runs
them. Every pass is registered through `one_register_passes` (see `plugin.py`) in the order
the PassManager runs them."""

from .plugin import all_passes

__all__ = ["all_passes"]

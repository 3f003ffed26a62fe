"""The plugin system: hooks, registries and discovery through the `one` entry-point group."""

from .hookspecs import hookimpl, hookspec
from .interfaces import (
    CONTENT_MATCH,
    EXTENSION_MATCH,
    NO_MATCH,
    Backend,
    Executable,
    Frontend,
    Packager,
)
from .manager import Plugins, Registry, get_plugins, reset_plugins

__all__ = [
    "CONTENT_MATCH",
    "EXTENSION_MATCH",
    "NO_MATCH",
    "Backend",
    "Executable",
    "Frontend",
    "Packager",
    "Plugins",
    "Registry",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "reset_plugins",
]

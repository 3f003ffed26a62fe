"""Discovery of plugins through entry points and the registries they fill."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, TypeVar

import pluggy

from ..errors import OneError
from . import hookspecs

T = TypeVar("T")

#: Environment variable: comma-separated plugin (entry-point) or distribution names not to load.
DISABLE_ENV = "ONE_DISABLE_PLUGINS"
#: The core's own plugin, which cannot be disabled.
CORE_PLUGIN = "one-core"


@dataclass
class PluginInfo:
    """What `one plugins` shows about one plugin."""

    name: str
    distribution: str
    version: str
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class Registry(Generic[T]):
    """Named items of one kind (frontends, backends, ...), remembering who supplied each."""

    def __init__(self, kind: str, plugins: dict[str, PluginInfo]) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self._plugins = plugins
        self._current: str | None = None

    def add(self, item: T, name: str | None = None) -> None:
        """Register `item` under `name` (default: its `name` attribute)."""
        key = name or getattr(item, "name", "")
        if not key:
            raise OneError(f"plugin '{self._current}' registered a {self.kind} without a name")
        if key in self._items:
            raise OneError(
                f"{self.kind} '{key}' is registered twice: by plugin '{self._owners[key]}' "
                f"and by plugin '{self._current}'"
            )
        self._items[key] = item
        self._owners[key] = self._current or "?"
        if self._current in self._plugins:
            self._plugins[self._current].provides.setdefault(self.kind, []).append(key)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none installed"
            raise OneError(f"no {self.kind} named '{name}' (known: {known})") from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


class Plugins:
    """The loaded plugins and their registries; obtain it through `get_plugins()`."""

    def __init__(self, disabled: set[str] | None = None, builtin: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.info: dict[str, PluginInfo] = {}
        self.disabled = set(disabled or ())
        if builtin:
            from .. import builtin as core_builtin

            self.register(core_builtin, CORE_PLUGIN, CORE_PLUGIN, _version_of(CORE_PLUGIN))
        self._load_entry_points()
        self.frontends: Registry[Any] = self._collect("frontend", "one_register_frontends")
        self.backends: Registry[Any] = self._collect("backend", "one_register_backends")
        self.passes: Registry[Any] = self._collect("pass", "one_register_passes")
        self.packagers: Registry[Any] = self._collect("packager", "one_register_packagers")
        self.quantizers: Registry[Any] = self._collect("quantizer", "one_register_quantizers")
        self.build_steps: Registry[Any] = self._collect("build step", "one_register_build_steps")
        self._extra: dict[str, Registry[Any]] = {}

    def register(self, plugin: object, name: str, distribution: str, version: str) -> None:
        """Register a plugin object (a module or an instance with hook implementations)."""
        if name != CORE_PLUGIN and (name in self.disabled or distribution in self.disabled):
            return
        self.pm.register(plugin, name=name)
        self.info[name] = PluginInfo(name, distribution, version)

    def _load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            if ep.name in self.disabled or dist in self.disabled or ep.name in self.info:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken third-party plugin must not break the tool
                self.info[ep.name] = PluginInfo(ep.name, dist, version, error=f"{exc}")
                print(f"warning: plugin '{ep.name}' ({dist}) failed to load: {exc}", file=sys.stderr)
                continue
            self.register(plugin, ep.name, dist, version)

    def registry(self, kind: str, hook_name: str, specs: object | None = None) -> Registry[Any]:
        """A registry of another kind, filled once through `hook_name`. A plugin that defines
        its own hook passes the module holding its hookspec as `specs` (for example the
        runtime's `one_register_kernels`)."""
        found = self._extra.get(hook_name)
        if found is None:
            caller = getattr(self.pm.hook, hook_name, None)
            if specs is not None and (caller is None or caller.spec is None):
                self.pm.add_hookspecs(specs)
            found = self._extra[hook_name] = self._collect(kind, hook_name)
        return found

    def _collect(self, kind: str, hook_name: str) -> Registry[Any]:
        registry: Registry[Any] = Registry(kind, self.info)
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            registry._current = impl.plugin_name
            self._call(impl, registry=registry)
        registry._current = None
        return registry

    def _call(self, impl: Any, **kwargs: Any) -> None:
        """Run one plugin's hook; a failing third-party plugin is reported and skipped, while
        our own errors (such as a duplicate name) stop the program with their message."""
        try:
            impl.function(**kwargs)
        except OneError:
            raise
        except Exception as exc:
            if impl.plugin_name == CORE_PLUGIN:
                raise
            info = self.info.get(impl.plugin_name)
            if info is not None:
                info.error = f"{type(exc).__name__}: {exc}"
            print(f"warning: plugin '{impl.plugin_name}' failed in {impl.function.__name__}: {exc}",
                  file=sys.stderr)

    def add_commands(self, cli: Any) -> None:
        """Let every plugin add its commands to the click group `cli`; a command name may be
        taken only once."""
        owners = {name: CORE_PLUGIN for name in cli.commands}
        for impl in self.pm.hook.one_add_commands.get_hookimpls():
            guarded = _CommandRegistrar(cli, impl.plugin_name, owners)
            self._call(impl, cli=guarded)
            if guarded.added and impl.plugin_name in self.info:
                self.info[impl.plugin_name].provides.setdefault("command", []).extend(guarded.added)


class _CommandRegistrar:
    """What `one_add_commands` receives: adds click commands to the group, refusing a name
    another plugin already took."""

    def __init__(self, group: Any, plugin: str, owners: dict[str, str]) -> None:
        self._group = group
        self._plugin = plugin
        self._owners = owners
        self.added: list[str] = []

    def add_command(self, command: Any, name: str | None = None) -> None:
        key = name or command.name
        if key in self._owners:
            raise OneError(
                f"command '{key}' is registered twice: by plugin '{self._owners[key]}' "
                f"and by plugin '{self._plugin}'"
            )
        self._owners[key] = self._plugin
        self._group.add_command(command, key)
        self.added.append(key)


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


_plugins: Plugins | None = None
_loading = False
_lock = threading.RLock()


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded on first use."""
    global _plugins, _loading
    with _lock:
        if _plugins is None:
            if _loading:
                raise OneError(
                    "plugins are still loading: a plugin used the plugin registry (for example "
                    "through one_core.load) while being imported or registered"
                )
            _loading = True
            try:
                disabled = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
                _plugins = Plugins(disabled)
            finally:
                _loading = False
        return _plugins


def reset_plugins() -> None:
    """Forget the loaded plugins so the next `get_plugins()` discovers them again."""
    global _plugins
    with _lock:
        _plugins = None

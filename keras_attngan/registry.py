"""One registration mechanism for every extension point: losses, augmentations, attention modules,
methods (objective terms), metrics and data sources.

A component registers itself by name where it is defined, with the defaults of the config fields it
reads and the check of those fields, both beside its code::

    from keras_attngan.registry import METHODS

    @METHODS.register("bcr", section="bcr", config=dict(weight=0.0), validate=check_config)
    class BCR(ObjectiveTerm):
        ...

Each registry knows the package that holds its components and imports every module in it the first
time it is asked for a name (as Keras fills its serialization registry by importing a module): a new
component is a new file in that package, and no list elsewhere names it. ``keras_attngan.config``
assembles the config sections and dispatches validation through these registries; the training step
builds what they return and never names a component.
"""

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable, Optional


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered component: ``obj`` (a class or function), the defaults of the config fields it reads
    (``config``; in config ``section`` when it owns one), ``validate(config)`` for those fields, and free
    ``info`` (ordering, options) its registry's users read."""

    name: str
    obj: Any
    config: Optional[dict] = None
    section: Optional[str] = None
    validate: Optional[Callable] = None
    info: dict = dataclasses.field(default_factory=dict)


class Registry:
    """Named components of one extension point. ``field`` is the config field that names one (for the
    one-line error of an unknown name); ``packages`` are imported on first use so their modules register."""

    def __init__(self, kind, field, packages=()):
        self.kind, self.field, self.packages = kind, field, tuple(packages)
        self._entries = {}
        self._loaded = False

    def register(self, name, *, config=None, section=None, validate=None, **info):
        """Decorator: registers the class or function it decorates under ``name``."""
        def decorate(obj):
            if name in self._entries and self._entries[name].obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self._entries[name].obj!r}, {obj!r})")
            self._entries[name] = Entry(name, obj, dict(config) if config else None, section, validate, dict(info))
            return obj
        return decorate

    def load(self):
        """Imports every module of the registry's packages (once), so their components register."""
        if self._loaded:
            return self
        self._loaded = True
        for package in self.packages:
            module = importlib.import_module(package)
            for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{package}.{info.name}")
        return self

    def entries(self):
        """Every entry, ordered by ``info['order']`` (then by name)."""
        self.load()
        return sorted(self._entries.values(), key=lambda e: (e.info.get("order", 0), e.name))

    def names(self):
        return tuple(e.name for e in self.entries())

    def __contains__(self, name):
        self.load()
        return name in self._entries

    def entry(self, name, field=None):
        """The entry ``name``; ValueError (one line naming the field and the choices) when unknown."""
        self.load()
        if name not in self._entries:
            raise ValueError(f"{field or self.field}={name!r} is not one of: {', '.join(self.names())}")
        return self._entries[name]

    def get(self, name, field=None):
        """The registered class or function ``name``."""
        return self.entry(name, field).obj


LOSSES = Registry("loss", "loss.name", ["keras_attngan.losses"])
AUGMENTATIONS = Registry("augmentation", "augment.name", ["keras_attngan.augment"])
ATTENTION = Registry("attention module", "model.g_attention.type", ["keras_attngan.layers.attention"])
METHODS = Registry("method", "method", ["keras_attngan.methods"])
METRICS = Registry("metric", "metric", ["keras_attngan.metrics"])
DATA_SOURCES = Registry("data source", "data.source", ["keras_attngan.data"])

ALL = (LOSSES, AUGMENTATIONS, ATTENTION, METHODS, METRICS, DATA_SOURCES)

"""Methods as configurations of this system: one module each, plugged into the training step as
:class:`~keras_attngan.methods.base.ObjectiveTerm` objects.

A method's module registers its term in :data:`keras_attngan.registry.METHODS` with the defaults of its
config section and the check of that section (``@METHODS.register(name, section=..., config=...,
validate=...)``); its ``from_config(config)`` returns the term, or None when the config leaves it off.
Every module of this package is imported when the registry is first read, so a new method is a new file
here (docs/architecture.md walks through bCR).
"""

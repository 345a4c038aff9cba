"""A run's ``config.json``: written once a start has succeeded, compared on resume, read back by the
tools that restore a run (evaluation, export, generation, projection)."""

import json
import os

from keras_attngan.config import default_config
from keras_attngan.training.files import read_json, write_text_atomic

# What must not change when a run resumes: the sections that define the checkpoint's contents (and the
# augmentation's name: ADA's state is in the checkpoint), and the batch size, which fixes what a step
# means (kimg = steps x batch). Everything else may change.
FROZEN_SECTIONS = ("model", "loss")
FROZEN_FIELDS = (("train", "batch_size"), ("augment", "name"))


def _frozen_items(saved, current):
    for section in FROZEN_SECTIONS:
        for key in sorted(set(saved.get(section, {})) | set(current.get(section, {}))):
            yield section, key
    for section, key in FROZEN_FIELDS:
        if key in saved.get(section, {}):
            yield section, key


def check_resume_config(workdir, config):
    """Refuses to resume a workdir whose model/loss/batch config differs from ``config``; returns the
    changed fields as (name, old, new) (none for a new run)."""
    saved = read_json(os.path.join(workdir, "config.json"), "run's config")
    if saved is None:
        return []
    current = json.loads(config.to_json_best_effort())
    # A key the saved run did not have yet was added since with a default that keeps the old behaviour:
    # the run counts as trained with that default (so an unconditional run refuses model.num_classes > 0).
    defaults = json.loads(default_config().to_json_best_effort())
    was = saved.get("model", {}).get("num_classes", 0)
    now = current.get("model", {}).get("num_classes", 0)
    if was != now:  # the most likely change of model, named first
        kind = (f"a class-conditional run (model.num_classes={was})" if was
                else "an unconditional run (model.num_classes=0)")
        raise ValueError(f"{workdir} holds {kind} and cannot resume with model.num_classes={now}: its checkpoints "
                         f"have no weights for it; set model.num_classes={was} or pass a new --workdir")
    for section, key in _frozen_items(saved, current):
        a = saved.get(section, {}).get(key, defaults.get(section, {}).get(key))
        b = current.get(section, {}).get(key)
        if a != b:
            raise ValueError(f"{workdir} was trained with {section}.{key}={a!r} but the config says {b!r}: "
                             f"resume with the same value or pass a new --workdir")
    changed = []
    for section, values in current.items():
        old_values = saved.get(section, {})
        for key, value in (values.items() if isinstance(values, dict) else []):
            if key in old_values and old_values[key] != value and not isinstance(value, dict):
                changed.append((f"{section}.{key}", old_values[key], value))
    return changed


def write_run_config(workdir, config, labels=None):
    """``<workdir>/config.json``, written atomically once the run has been built and restored (so a
    failed start never leaves a config behind that would refuse the next, correct one). ``labels`` (the
    source's :class:`~keras_attngan.data.sources.LabelInfo`, with ``data.labels``) adds ``data.num_classes``
    and ``data.class_names``."""
    current = json.loads(config.to_json_best_effort())
    if labels is not None:
        current["data"].update(num_classes=labels.num_classes, class_names=list(labels.class_names))
    write_text_atomic(os.path.join(workdir, "config.json"), json.dumps(current, indent=2, sort_keys=True))


def load_run_config(workdir):
    """The resolved config a run saved in ``<workdir>/config.json``, on top of today's defaults (so a
    field added since the run was made takes its default)."""
    path = os.path.join(workdir, "config.json")
    saved = read_json(path, "run's config")
    if saved is None:
        raise ValueError(f"{path} not found: --workdir must be a training run directory (made by train_main.py)")

    def merge(dst, src):
        for key, value in src.items():
            if isinstance(value, dict) and key in dst:
                merge(dst[key], value)
            else:
                dst[key] = value

    config = default_config()
    merge(config, saved)
    return config

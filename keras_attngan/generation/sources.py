"""Where images come from: the Python EMA generator of a run, or an exported SavedModel.

Both sources offer the same small interface, in numpy, batched internally:

  latents(seeds)              z [N, z_dim], the same N(0, I) draw per seed as the SavedModel's ``from_seeds``
  map(z, labels)              ws [N, num_ws, w_dim] (no truncation; ``batch_size`` rows per call, default 16)
  truncate(ws, psi, labels)   avg + psi (ws - avg)  (the truncation trick; psi scalar or [N])
  synthesize(ws)              uint8 images [N, H, W, C], fixed ('const') noise
  images(z, psi, labels)      synthesize(truncate(map(z), psi)); the ``serving_default`` signature

so every generation mode works with either; only attention maps need ``generator`` (the Python model).
``num_classes`` > 0 (a class-conditional model): ``labels`` (int class ids [N]) are required, and
truncation moves each w towards its class's mean w (``class_w_avg`` [num_classes, w_dim]) instead of the
global ``w_avg``; ``class_names`` names the classes when known (else None). An unconditional source
(``num_classes`` 0) refuses labels. Bad labels are refused by :meth:`_Source.check_labels` in one line.
"""

import numpy as np
import tensorflow as tf

from keras_attngan.export import latents_from_seeds, to_uint8_tensor


def _batched(fn, arrays, batch_size):
    """Concatenation of fn(*chunk) over chunks of ``batch_size`` rows of every array."""
    n = len(arrays[0])
    return np.concatenate([np.asarray(fn(*(a[i:i + batch_size] for a in arrays)))
                           for i in range(0, n, batch_size)], axis=0)


def _psi_vector(psi, n):
    return np.broadcast_to(np.asarray(psi, np.float32), [n]).copy()


def describe_classes(num_classes, class_names=None, limit=12):
    """'ids 0-9 (0 T-shirt/top, 1 Trouser, ...)': the valid class ids, with names when known (the first
    ``limit`` of them)."""
    text = f"ids 0-{num_classes - 1}"
    if class_names:
        named = [f"{i} {n}" for i, n in enumerate(list(class_names)[:limit])]
        text += f" ({', '.join(named)}{', ...' if len(class_names) > limit else ''})"
    return text


class _Source:
    batch_size = 16
    generator = None  # the Python Generator, when there is one
    num_classes = 0  # > 0: class-conditional (labels required)
    class_names = None

    def check_labels(self, labels, n):
        """int32 labels [n] for this source, or None for an unconditional one; ValueError with one line
        for labels missing (conditional), given (unconditional), of the wrong length or out of range."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError("class labels need a class-conditional model: this generator is unconditional "
                                 "(model.num_classes=0), drop the labels (--classes)")
            return None
        if labels is None:
            raise ValueError(f"this generator is class-conditional ({self.num_classes} classes): pass labels, one "
                             f"class id per image ({describe_classes(self.num_classes, self.class_names)})")
        labels = np.broadcast_to(np.asarray(labels), [n]).astype(np.int64)
        bad = labels[(labels < 0) | (labels >= self.num_classes)]
        if bad.size:
            raise ValueError(f"class {int(bad[0])} is out of range: this model has {self.num_classes} classes, "
                             f"{describe_classes(self.num_classes, self.class_names)}")
        return labels.astype(np.int32)

    def latents(self, seeds):
        return latents_from_seeds(tf.constant(np.asarray(seeds, np.int64)), self.z_dim).numpy()

    def truncate(self, ws, psi, labels=None):
        ws = np.asarray(ws, np.float32)
        labels = self.check_labels(labels, len(ws))
        if np.all(np.asarray(psi) == 1.0):
            return ws
        avg = self.w_avg[None, None] if labels is None else self.class_w_avg[labels][:, None]
        return avg + (ws - avg) * _psi_vector(psi, len(ws))[:, None, None]

    def _label_columns(self, labels, n):
        """([labels] or [], wrap) for ``_batched``: wrap(chunks) -> the keyword arguments of one call."""
        labels = self.check_labels(labels, n)
        return ([], lambda: {}) if labels is None else ([labels], lambda l: {"labels": tf.constant(l)})


class KerasSource(_Source):
    """A ``keras_attngan.networks.Generator`` (normally a run's ``trainer.g_ema``)."""

    def __init__(self, generator, class_names=None):
        self.generator = generator
        self.z_dim, self.num_ws, self.w_dim = generator.z_dim, generator.num_ws, generator.mapping.w_dim
        self.resolution, self.img_channels = generator.resolution, generator.img_channels
        self.num_classes = int(getattr(generator, "num_classes", 0))
        self.class_names = list(class_names) if class_names and self.num_classes else None

    @property
    def w_avg(self):
        return self.generator.mapping.w_avg.numpy()

    @property
    def class_w_avg(self):
        return self.generator.mapping.class_w_avg.numpy()

    def truncate(self, ws, psi, labels=None):
        ws = np.asarray(ws, np.float32)
        labels = self.check_labels(labels, len(ws))
        kwargs = {} if labels is None else {"labels": tf.constant(labels)}
        return self.generator.mapping.truncate(tf.constant(ws), tf.constant(_psi_vector(psi, len(ws))),
                                               **kwargs).numpy()

    def map(self, z, labels=None, batch_size=None):
        z = np.asarray(z, np.float32)
        columns, kwargs = self._label_columns(labels, len(z))
        return _batched(lambda z, *l: self.generator.map(tf.constant(z), **kwargs(*l)), [z] + columns,
                        batch_size or self.batch_size)

    def synthesize(self, ws):
        return _batched(lambda ws: to_uint8_tensor(self.generator.synthesis(tf.constant(ws), noise_mode="const")),
                        [np.asarray(ws, np.float32)], self.batch_size)

    def images(self, z, psi=1.0, labels=None):
        return self.synthesize(self.truncate(self.map(z, labels), psi, labels))


class SavedModelSource(_Source):
    """A SavedModel written by ``export_main.py`` (its ``serving_default``, ``mapping`` and ``synthesis``
    signatures). ``truncate`` reads ``mapping/w_avg`` (and, class-conditional, ``class_w_avg``) from the
    SavedModel's variables; a conditional export's signatures take ``label`` int32 [batch], and its
    ``class_names`` (when the run had them) come from the SavedModel too."""

    def __init__(self, path):
        if not tf.io.gfile.exists(tf.io.gfile.join(path, "saved_model.pb")):
            raise ValueError(f"{path} has no saved_model.pb: pass a version directory such as saved_models/demo/1")
        self.path, self.model = path, tf.saved_model.load(path)
        sigs = self.model.signatures
        missing = {"serving_default", "mapping", "synthesis"} - set(sigs.keys())
        if missing:
            raise ValueError(f"{path} lacks the signatures {sorted(missing)}: re-export it with export_main.py")
        ws_spec = sigs["synthesis"].structured_input_signature[1]["ws"]
        self.num_ws, w_dim = int(ws_spec.shape[1]), int(ws_spec.shape[2])
        self.w_dim = w_dim
        self.z_dim = int(sigs["mapping"].structured_input_signature[1]["z"].shape[1])
        probe = sigs["synthesis"](ws=tf.zeros([1, self.num_ws, w_dim]))["images"]
        self.resolution, self.img_channels = int(probe.shape[1]), int(probe.shape[3])
        found = [v for v in self.model.variables if v.name.split(":")[0].endswith("w_avg") and v.shape == [w_dim]]
        self._w_avg = found[0].numpy() if len(found) == 1 else None
        if "label" in sigs["mapping"].structured_input_signature[1]:
            found = [v for v in self.model.variables
                     if v.name.split(":")[0].endswith("class_w_avg") and v.shape.rank == 2 and v.shape[1] == w_dim]
            if len(found) != 1:
                raise ValueError(f"{path} is class-conditional but has no readable class_w_avg: re-export it with "
                                 "export_main.py")
            self.class_w_avg = found[0].numpy()
            self.num_classes = int(self.class_w_avg.shape[0])
            names = getattr(self.model, "class_names", None)
            self.class_names = [n.decode() for n in names.numpy()] if names is not None else None

    @property
    def w_avg(self):
        if self._w_avg is None:
            raise ValueError("this SavedModel has no readable w_avg: use --psi=1, or --workdir for truncation here")
        return self._w_avg

    def _label_columns(self, labels, n):
        labels = self.check_labels(labels, n)
        return ([], lambda: {}) if labels is None else ([labels], lambda l: {"label": tf.constant(l)})

    def map(self, z, labels=None, batch_size=None):
        sig = self.model.signatures["mapping"]
        z = np.asarray(z, np.float32)
        columns, kwargs = self._label_columns(labels, len(z))
        return _batched(lambda z, *l: sig(z=tf.constant(z), **kwargs(*l))["ws"], [z] + columns,
                        batch_size or self.batch_size)

    def synthesize(self, ws):
        sig = self.model.signatures["synthesis"]
        return _batched(lambda ws: sig(ws=tf.constant(ws))["images"], [np.asarray(ws, np.float32)], self.batch_size)

    def images(self, z, psi=1.0, labels=None):
        sig = self.model.signatures["serving_default"]
        z = np.asarray(z, np.float32)
        columns, kwargs = self._label_columns(labels, len(z))
        return _batched(lambda z, p, *l: sig(z=tf.constant(z), psi=tf.constant(p), **kwargs(*l))["images"],
                        [z, _psi_vector(psi, len(z))] + columns, self.batch_size)


class ProjectedSource(_Source):
    """Projected latents (the ``projected_*.npz`` files of ``project_main.py``) as a source for the generation
    modes: the "seeds" are the indices 0 .. N-1 of ``ws`` [N, num_ws, w_dim], ``latents`` returns them and
    ``map`` looks the ws up, so every mode that works in w (grid, truncation, interp in w, mixing, attention)
    renders projections, with ``source``'s w_avg and synthesis. A projection has no class: over a
    class-conditional ``source`` this source is unconditional (no labels) and truncates towards the global w_avg.

    ``noise``: per projection its optimised noise maps ([H, W, 1] per noise layer) or None. When given and
    ``source`` is a run's generator, each image is rendered with the noise of the projection whose ws is
    nearest its own (exactly the projection's for the projection itself); otherwise with the fixed noise."""

    def __init__(self, source, ws, noise=None):
        self.base, self.ws = source, np.asarray(ws, np.float32)
        self.generator, self.batch_size = source.generator, source.batch_size
        self.z_dim, self.num_ws, self.w_dim = source.z_dim, source.num_ws, source.w_dim
        self.resolution, self.img_channels = source.resolution, source.img_channels
        if self.ws.ndim != 3 or self.ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"projected ws have shape {self.ws.shape[1:]}, this generator takes "
                             f"[{self.num_ws}, {self.w_dim}]: render them with the generator they were projected into")
        self.noise = noise if noise and self.generator is not None and all(noise) else None
        if self.noise:
            want = [tuple(n.const_noise.shape[1:]) for b in self.generator.synthesis.blocks for n in b.noise_layers()]
            if any([tuple(m.shape) for m in maps] != want for maps in self.noise):
                raise ValueError(f"projected noise maps do not fit this generator's noise layers {want}: render "
                                 "them with the generator they were projected into")

    def latents(self, seeds):
        return np.asarray(seeds, np.float32)[:, None]

    def map(self, z, labels=None, batch_size=None):
        self.check_labels(labels, len(z))
        return self.ws[np.asarray(z, np.float32)[:, 0].astype(np.int64)]

    @property
    def w_avg(self):
        return self.base.w_avg

    def truncate(self, ws, psi, labels=None):
        if self.base.num_classes:  # a projection has no class: towards the global w_avg of the conditional model
            return super().truncate(ws, psi, labels)
        self.check_labels(labels, len(ws))
        return self.base.truncate(ws, psi)

    def synthesize(self, ws):
        ws = np.asarray(ws, np.float32)
        if not self.noise:
            return self.base.synthesize(ws)
        owner = np.argmin(((ws[:, None] - self.ws[None]) ** 2).sum(axis=(2, 3)), axis=1)

        def render(ws, owner):
            noise = [tf.constant(np.stack([self.noise[k][i] for k in owner])) for i in range(len(self.noise[0]))]
            return to_uint8_tensor(self.generator.synthesis(tf.constant(ws), noise_mode="random", noise=noise))

        return _batched(render, [ws, owner], self.batch_size)

    def images(self, z, psi=1.0, labels=None):
        return self.synthesize(self.truncate(self.map(z, labels), psi, labels))

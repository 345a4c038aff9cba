"""Where images come from: the Python EMA generator of a run, or an exported SavedModel.

Both sources offer the same small interface, in numpy, batched internally:

  latents(seeds)      z [N, z_dim], the same N(0, I) draw per seed as the SavedModel's ``from_seeds``
  map(z)              ws [N, num_ws, w_dim] (no truncation; ``batch_size`` rows per call, default 16)
  truncate(ws, psi)   w_avg + psi (ws - w_avg)  (the truncation trick; psi scalar or [N])
  synthesize(ws)      uint8 images [N, H, W, C], fixed ('const') noise
  images(z, psi)      synthesize(truncate(map(z), psi)); the ``serving_default`` signature

so every generation mode works with either; only attention maps need ``generator`` (the Python model).
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


class _Source:
    batch_size = 16
    generator = None  # the Python Generator, when there is one

    def latents(self, seeds):
        return latents_from_seeds(tf.constant(np.asarray(seeds, np.int64)), self.z_dim).numpy()

    def truncate(self, ws, psi):
        ws = np.asarray(ws, np.float32)
        if np.all(np.asarray(psi) == 1.0):
            return ws
        return self.w_avg + (ws - self.w_avg) * _psi_vector(psi, len(ws))[:, None, None]


class KerasSource(_Source):
    """A ``keras_attngan.networks.Generator`` (normally a run's ``trainer.g_ema``)."""

    def __init__(self, generator):
        self.generator = generator
        self.z_dim, self.num_ws, self.w_dim = generator.z_dim, generator.num_ws, generator.mapping.w_dim
        self.resolution, self.img_channels = generator.resolution, generator.img_channels

    @property
    def w_avg(self):
        return self.generator.mapping.w_avg.numpy()

    def truncate(self, ws, psi):
        ws = np.asarray(ws, np.float32)
        return self.generator.mapping.truncate(tf.constant(ws), tf.constant(_psi_vector(psi, len(ws)))).numpy()

    def map(self, z, batch_size=None):
        return _batched(lambda z: self.generator.map(tf.constant(z)), [np.asarray(z, np.float32)],
                        batch_size or self.batch_size)

    def synthesize(self, ws):
        return _batched(lambda ws: to_uint8_tensor(self.generator.synthesis(tf.constant(ws), noise_mode="const")),
                        [np.asarray(ws, np.float32)], self.batch_size)

    def images(self, z, psi=1.0):
        return self.synthesize(self.truncate(self.map(z), psi))


class SavedModelSource(_Source):
    """A SavedModel written by ``export_main.py`` (its ``serving_default``, ``mapping`` and ``synthesis``
    signatures). ``truncate`` reads ``mapping/w_avg`` from the SavedModel's variables."""

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

    @property
    def w_avg(self):
        if self._w_avg is None:
            raise ValueError("this SavedModel has no readable w_avg: use --psi=1, or --workdir for truncation here")
        return self._w_avg

    def map(self, z, batch_size=None):
        sig = self.model.signatures["mapping"]
        return _batched(lambda z: sig(z=tf.constant(z))["ws"], [np.asarray(z, np.float32)],
                        batch_size or self.batch_size)

    def synthesize(self, ws):
        sig = self.model.signatures["synthesis"]
        return _batched(lambda ws: sig(ws=tf.constant(ws))["images"], [np.asarray(ws, np.float32)], self.batch_size)

    def images(self, z, psi=1.0):
        sig = self.model.signatures["serving_default"]
        z = np.asarray(z, np.float32)
        return _batched(lambda z, p: sig(z=tf.constant(z), psi=tf.constant(p))["images"],
                        [z, _psi_vector(psi, len(z))], self.batch_size)


class ProjectedSource(_Source):
    """Projected latents (the ``projected_*.npz`` files of ``project_main.py``) as a source for the generation
    modes: the "seeds" are the indices 0 .. N-1 of ``ws`` [N, num_ws, w_dim], ``latents`` returns them and
    ``map`` looks the ws up, so every mode that works in w (grid, truncation, interp in w, mixing, attention)
    renders projections, with ``source``'s w_avg and synthesis.

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

    def map(self, z, batch_size=None):
        return self.ws[np.asarray(z, np.float32)[:, 0].astype(np.int64)]

    @property
    def w_avg(self):
        return self.base.w_avg

    def truncate(self, ws, psi):
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

    def images(self, z, psi=1.0):
        return self.synthesize(self.truncate(self.map(z), psi))

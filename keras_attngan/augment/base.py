"""The interface every augmentation implements, and the identity (``none``).

An augmentation is split in two so that it fits the training step:

- ``draw(batch, seed) -> params``: every random number, per sample, as a dict of float32 tensors of
  leading dimension ``batch`` (the *local* batch). Drawn with :func:`keras_attngan.rng.batch_uniform` /
  ``batch_normal``, so under ``MirroredStrategy`` each replica gets its rows of the global batch's draw and
  a run is the same however the batch is split. Call it outside XLA-compiled code.
- ``apply(images, params) -> images``: a pure function of its inputs (no RNG, no variable reads, no
  ImageProjectiveTransform), differentiable w.r.t. ``images`` and XLA-compilable on CPU and GPU.
- ``apply_geometric(feature_map, params) -> feature_map``: only the geometric part of the same transform,
  at the map's own size and for any number of channels (GGDR, Lee et al. 2022, Sec. 2.4 of
  docs/methods.md): G's feature maps must move with the augmented fake image.

Params do not depend on the image size: sizes are taken from the tensor being transformed, so one draw
serves the image and every feature map.
"""

import tensorflow as tf

from keras_attngan.registry import AUGMENTATIONS


class Augment:
    """Base class; subclasses set ``name`` and override what they change."""

    name = "base"

    @property
    def is_identity(self):
        """True when ``apply`` returns its input whatever the params (the trainer may skip it)."""
        return False

    def draw(self, batch, seed):
        """Per-sample parameters for ``batch`` images (the local batch), from a [2] int seed."""
        raise NotImplementedError

    def apply(self, images, params):
        """``images`` [B, H, W, C] in [-1, 1], transformed by ``params``; same shape and dtype."""
        raise NotImplementedError

    def apply_geometric(self, feature_map, params):
        """The geometric part of ``apply`` on a [B, h, w, c] map (any h, w, c); colour ops are skipped."""
        raise NotImplementedError

    def __call__(self, images, seed):
        """Draws and applies in one go (eager use, evaluation, tests); the trainer calls draw/apply itself."""
        return self.apply(images, self.draw(tf.shape(images)[0], seed))

    # ------------------------------------------------------------------ state (ADA's p)
    def state_variables(self):
        """{name: variable} to checkpoint with the run (saved as ``augment.<name>``)."""
        return {}

    @property
    def adaptive(self):
        """True when :meth:`observe` adapts the strength (ADA with p=-1)."""
        return False

    def observe(self, real_logits, step, global_batch):
        """Called by the D step with D's logits of this replica's augmented reals, the step counter (before
        its increment) and the global batch size, in replica context: an adaptive augmentation updates its
        state here (ADA's p from E[sign(D(x))]); a no-op by default."""
        del real_logits, step, global_batch

    def log_values(self):
        """Scalars worth logging each tick, e.g. {'augment_p': p}."""
        return {}

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


@AUGMENTATIONS.register("none", order=-1)
class Identity(Augment):
    """``augment.name='none'``: D sees the images as they are."""

    name = "none"

    @property
    def is_identity(self):
        return True

    def draw(self, batch, seed):
        del batch, seed
        return {}

    def apply(self, images, params):
        del params
        return images

    def apply_geometric(self, feature_map, params):
        del params
        return feature_map


def compute_dtype(x):
    """Work in float32 (and cast back): half-precision pixel offsets and matrices would be too coarse."""
    return tf.cast(x, tf.float32), x.dtype

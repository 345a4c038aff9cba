"""Projection (GAN inversion): the latent with which a trained generator reproduces a given image.

StyleGAN2's projector (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", Sec. 5 and
Appendix D; NVlabs' ``projector.py`` in stylegan2 and stylegan2-ada-pytorch), written for this project's
generator and sources (a run's EMA generator or an exported SavedModel):

* **Latent.** One w shared by all layers (W, as NVlabs) or one w per layer (W+, ``space="wplus"``), started at
  w_avg, the mean of ``w_avg_samples`` mapped z ~ N(0, I) (NVlabs: 10,000); w_std = sqrt(E |w - w_avg|^2).
* **Noise maps** of every noise layer (only with the Python generator: a SavedModel's noise is fixed), started
  at the generator's fixed noise (NVlabs draws fresh N(0, 1) maps; both are N(0, 1) samples, this one makes
  step 0 the generator's own image), optimised under the regulariser of Appendix D,
  L_noise = sum over maps and scales of mean(n * roll_x(n))^2 + mean(n * roll_y(n))^2, each map 2x2-average
  pooled until it is 8x8 (multi-scale autocorrelation), weight 1e5, and re-normalised to zero mean and unit
  variance after every step.
* **Schedule** (t = step / steps): Adam (0.9, 0.999, eps 1e-8), lr = 0.1 * cosine ramp-down over the last 25%
  * linear ramp-up over the first 5%; w noise N(0, sigma^2), sigma = w_std * 0.05 * max(0, 1 - t / 0.75)^2,
  added to w at every step (the images the loss sees; the saved w has none).
* **Distance:** LPIPS-VGG16 (``metrics/lpips.py``) between the synthesised image and the target, both as PPL
  feeds LPIPS (``metrics.ppl.ppl_images``: box-downsampled to 256 when larger, grayscale repeated to RGB; NVlabs
  also downsamples to 256), the target's features computed once; ``pixel_weight`` adds the mean squared
  pixel error in [-1, 1].

Targets are optimised as one batch: every parameter belongs to one target, Adam is element-wise and the
losses are summed, so each target's result equals its projection alone (up to its w-noise draws).
"""

import math

import numpy as np
import tensorflow as tf

from keras_attngan.export import to_uint8_tensor
from keras_attngan.metrics.ppl import ppl_images

SPACES = ("w", "wplus")
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


def learning_rate(t, initial=0.1, rampdown=0.25, rampup=0.05):
    """NVlabs' projector schedule at t = step / steps: cosine ramp-down over the last ``rampdown``, linear
    ramp-up over the first ``rampup`` (0 at t = 0)."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial * ramp * min(1.0, t / rampup)


def w_noise_scale(t, w_std, initial_factor=0.05, ramp_length=0.75):
    """Std of the noise added to w at t = step / steps: w_std * 0.05, decaying quadratically to 0 at t = 0.75."""
    return w_std * initial_factor * max(0.0, 1.0 - t / ramp_length) ** 2


def noise_regularization(noise):
    """[B] multi-scale autocorrelation of the noise maps (StyleGAN2 Appendix D): per map [B, H, W, 1] and per
    scale down to 8x8 (2x2 average pooling), mean(n * roll_x(n))^2 + mean(n * roll_y(n))^2, summed."""
    total = 0.0
    for n in noise:
        while True:
            total += (tf.square(tf.reduce_mean(n * tf.roll(n, 1, axis=2), axis=[1, 2, 3]))
                      + tf.square(tf.reduce_mean(n * tf.roll(n, 1, axis=1), axis=[1, 2, 3])))
            if n.shape[1] <= 8:
                break
            n = tf.nn.avg_pool2d(n, 2, 2, "VALID")
    return total


def normalize_noise(n):
    """Each map of [B, H, W, 1] shifted and scaled to zero mean and unit variance."""
    n = n - tf.reduce_mean(n, axis=[1, 2, 3], keepdims=True)
    return n * tf.math.rsqrt(tf.reduce_mean(tf.square(n), axis=[1, 2, 3], keepdims=True))


def psnr(a, b):
    """[N] PSNR in dB between uint8 image batches (100 when identical)."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2, axis=(1, 2, 3))
    return 10.0 * np.log10(255.0 ** 2 / np.maximum(mse, 255.0 ** 2 * 1e-10))


def w_statistics(source, samples=10_000, seed=0):
    """(w_avg [w_dim], w_std) of ``samples`` mapped z ~ N(0, I) (NVlabs' projector; seeded). A class-conditional
    G maps sample i with class i mod num_classes: the projection searches W, which every class shares, from
    the mean over the classes."""
    z = np.random.RandomState(seed).randn(samples, source.z_dim).astype(np.float32)
    classes = getattr(source, "num_classes", 0)
    labels = (np.arange(samples) % classes).astype(np.int32) if classes else None
    w = source.map(z, labels=labels, batch_size=1000)[:, 0].astype(np.float64)
    w_avg = w.mean(axis=0)
    return w_avg.astype(np.float32), float(np.sqrt(np.sum((w - w_avg) ** 2) / samples))


def differentiable_synthesis(source, optimize_noise=True):
    """(fn(ws, noise) -> float images in [-1, 1], initial noise maps [H, W, 1] per noise layer, [] when the
    noise is fixed). A run's generator takes given noise maps; a SavedModel's ``synthesis_float`` function
    (written by ``export.build_archive``; its ``synthesis`` signature returns uint8, which has no gradient)
    uses its fixed noise."""
    g = source.generator
    if g is not None:
        layers = [n for block in g.synthesis.blocks for n in block.noise_layers()]
        init = [n.const_noise.numpy()[0] for n in layers] if optimize_noise else []

        def synth(ws, noise):
            return g.synthesis(ws, noise_mode="random" if noise else "const", noise=noise or None)

        return synth, init
    fn = getattr(getattr(source, "model", None), "synthesis_float", None)
    if fn is None:
        raise ValueError(f"the SavedModel {getattr(source, 'path', '')} has no synthesis_float function (exported "
                         "before projection existed; its uint8 synthesis signature has no gradient): re-export "
                         "it with export_main.py, or project from the run with --workdir")
    if optimize_noise:
        raise ValueError("noise optimization needs the run's generator (a SavedModel's noise is fixed): pass "
                         "--workdir, or --nooptimize_noise")
    return (lambda ws, noise: fn(ws)), []


class Projector:
    """Projects batches of targets into a source's generator; see the module docstring for the method.

    ``lpips``: a ``metrics.lpips.LPIPS``. ``project(targets)`` takes float targets [B, R, R, C] in [-1, 1]
    and returns a dict: ``ws`` [B, num_ws, w_dim] (the latent as synthesis takes it), ``w`` [B, w_dim] (W
    only), ``noise`` (list of [B, H, W, 1], empty when not optimised), ``images`` (uint8 reconstructions),
    ``lpips`` / ``psnr`` [B] of the final reconstruction, ``history`` [steps, B] (the distance each step
    saw, with its w noise) and ``frames`` (uint8 [F, B, R, R, C] snapshots, with ``frame_every``).
    """

    def __init__(self, source, lpips, *, steps=1000, space="w", optimize_noise=True, pixel_weight=0.0,
                 initial_lr=0.1, noise_weight=1e5, w_avg_samples=10_000, seed=0):
        if int(steps) < 1:
            raise ValueError(f"--steps must be >= 1, got {steps}")
        if space not in SPACES:
            raise ValueError(f"--space must be one of {', '.join(SPACES)}, got {space!r}")
        if not (math.isfinite(pixel_weight) and pixel_weight >= 0):
            raise ValueError(f"--pixel_weight must be a finite number >= 0, got {pixel_weight}")
        self.source, self.lpips, self.steps, self.space = source, lpips, int(steps), space
        self.pixel_weight, self.initial_lr, self.noise_weight, self.seed = pixel_weight, initial_lr, noise_weight, seed
        self.synth, self.noise_init = differentiable_synthesis(source, optimize_noise)
        self.w_avg, self.w_std = w_statistics(source, w_avg_samples, seed)
        self._step = tf.function(self._step_fn)
        self._render = tf.function(lambda w, noise: to_uint8_tensor(self._images(w, noise)))

    def _images(self, w, noise):
        ws = tf.tile(w, [1, self.source.num_ws, 1]) if w.shape[1] == 1 else w
        return self.synth(ws, list(noise))

    def _losses(self, w, noise, target, target_units):
        img = self._images(w, noise)
        dist = self.lpips.feature_distance(self.lpips.unit_features(ppl_images(img)), target_units)
        loss = dist
        if self.pixel_weight:
            loss += self.pixel_weight * tf.reduce_mean(tf.square(img - target), axis=[1, 2, 3])
        if noise:
            loss += self.noise_weight * noise_regularization(noise)
        return dist, loss

    def _step_fn(self, params, moments, target, target_units, step, lr, w_sigma, seed):
        """One Adam step on every target's parameters [w, *noise]; returns (params, moments, distances)."""
        w, noise = params[0], params[1:]
        with tf.GradientTape() as tape:
            tape.watch(params)
            w_noisy = w + w_sigma * tf.random.stateless_normal(tf.shape(w), seed)
            dist, loss = self._losses(w_noisy, noise, target, target_units)
            total = tf.reduce_sum(loss)
        grads = tape.gradient(total, params)
        (b1, b2), t = ADAM_BETAS, step + 1.0
        new_params, new_moments = [], []
        for i, (p, g) in enumerate(zip(params, grads)):
            m = b1 * moments[2 * i] + (1 - b1) * g
            v = b2 * moments[2 * i + 1] + (1 - b2) * tf.square(g)
            p = p - lr * (m / (1 - b1 ** t)) / (tf.sqrt(v / (1 - b2 ** t)) + ADAM_EPS)
            new_params.append(normalize_noise(p) if i else p)
            new_moments += [m, v]
        return new_params, new_moments, dist

    def initial_params(self, batch):
        k = 1 if self.space == "w" else self.source.num_ws
        w = np.tile(self.w_avg[None, None], [batch, k, 1])
        return [tf.constant(w)] + [tf.constant(np.repeat(n[None], batch, axis=0)) for n in self.noise_init]

    def project(self, targets, frame_every=0, on_step=None):
        """See the class docstring; ``on_step(step, distances [B], params [w, *noise])`` is called after every
        step."""
        target = tf.constant(np.asarray(targets, np.float32))
        target_units = self.lpips.unit_features(ppl_images(target))
        params = self.initial_params(int(target.shape[0]))
        moments = [tf.zeros_like(p) for p in params for _ in range(2)]
        history, frames = [], []
        for step in range(self.steps):
            t = step / self.steps
            if frame_every and step % frame_every == 0:
                frames.append(self._render(params[0], params[1:]).numpy())
            params, moments, dist = self._step(
                params, moments, target, target_units, tf.constant(step, tf.float32),
                tf.constant(learning_rate(t, self.initial_lr), tf.float32),
                tf.constant(w_noise_scale(t, self.w_std), tf.float32), tf.constant([self.seed, step], tf.int64))
            history.append(dist.numpy())
            if on_step:
                on_step(step, history[-1], params)
        w, noise = params[0], params[1:]
        final, _ = self._losses(w, noise, target, target_units)
        images = self._render(w, noise).numpy()
        if frame_every:
            frames.append(images)
        ws = tf.tile(w, [1, self.source.num_ws, 1]) if self.space == "w" else w
        return {"ws": ws.numpy(), "w": w.numpy()[:, 0] if self.space == "w" else None,
                "noise": [n.numpy() for n in noise], "images": images, "lpips": final.numpy(),
                "psnr": psnr(images, to_uint8_tensor(target).numpy()), "history": np.stack(history),
                "frames": np.stack(frames) if frames else None}

"""Perceptual path length (Karras et al. 2019, Sec. 3.2; NVlabs' ppl_{z,w}{full,end}).

PPL = E[ d(G(lerp(w0, w1, t)), G(lerp(w0, w1, t + eps))) / eps^2 ], with d a perceptual distance
(LPIPS-VGG16 in the protocol), the same noise for both images, t ~ U(0, 1) ('full') or t = 0 ('end'),
slerp instead of lerp in z space, and the mean taken over the values between the 1st and 99th
percentiles (outlier rejection, as NVlabs does).
"""

import numpy as np
import tensorflow as tf

from keras_attngan.registry import METRICS
from keras_attngan.utils.interpolation import lerp, slerp


def path_length_samples(generator, distance_fn, num_samples, space="w", sampling="end", epsilon=1e-4,
                        batch_size=32, seed=0):
    """The per-sample values d(...) / eps^2 (before outlier rejection).

    ``distance_fn(img0, img1)`` takes float images in [-1, 1] (NHWC) and returns [N] distances. A
    class-conditional G walks within a class: both ends of a pair get one label, drawn uniformly (a separate
    random stream, so the latents are those of an unconditional evaluation with the same seed).
    """
    if space not in ("z", "w") or sampling not in ("full", "end"):
        raise ValueError(f"space must be 'z' or 'w' and sampling 'full' or 'end', got {space!r}, {sampling!r}")
    rng = np.random.RandomState(seed)
    label_rng = np.random.RandomState([seed, 2])
    classes = getattr(generator, "num_classes", 0)
    out = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        z = tf.constant(rng.randn(2 * n, generator.z_dim).astype(np.float32))
        t = tf.constant(rng.uniform(size=n).astype(np.float32) * (1.0 if sampling == "full" else 0.0))
        z0, z1 = z[:n], z[n:]
        y = tf.constant(label_rng.randint(classes, size=n), tf.int32) if classes else None
        if space == "z":
            yy = None if y is None else tf.concat([y, y], axis=0)
            ws = generator.map(tf.concat([slerp(z0, z1, t), slerp(z0, z1, t + epsilon)], axis=0), labels=yy)
        else:
            w0, w1 = generator.map(z0, labels=y), generator.map(z1, labels=y)
            ws = tf.concat([lerp(w0, w1, t), lerp(w0, w1, t + epsilon)], axis=0)
        img = generator.synthesis(ws, noise_mode="const")  # same noise for both ends of each pair
        out.append(np.asarray(distance_fn(img[:n], img[n:])) / epsilon ** 2)
    return np.concatenate(out)


def reject_outliers_mean(values, lo_pct=1, hi_pct=99):
    """Mean of the values within [P_lo, P_hi] (NVlabs' PPL outlier rejection)."""
    values = np.asarray(values, np.float64)
    lo = np.percentile(values, lo_pct, method="lower")
    hi = np.percentile(values, hi_pct, method="higher")
    return float(np.extract(np.logical_and(values >= lo, values <= hi), values).mean())


def perceptual_path_length(generator, distance_fn, num_samples=50_000, space="w", sampling="end",
                           epsilon=1e-4, batch_size=32, seed=0):
    """PPL as NVlabs reports it (``ppl_wend``: space='w', sampling='end')."""
    return reject_outliers_mean(path_length_samples(generator, distance_fn, num_samples, space, sampling,
                                                    epsilon, batch_size, seed))


def ppl_images(img, max_size=256):
    """Generator images as NVlabs' PPL feeds them to LPIPS: box-downsampled by an integer factor when larger
    than 256 (area averaging; no face crop), grayscale repeated to RGB, range [-1, 1] kept (not clipped)."""
    img = tf.convert_to_tensor(img, tf.float32)
    factor = int(img.shape[1]) // max_size
    if factor > 1:
        img = tf.nn.avg_pool2d(img, factor, factor, "VALID")
    return tf.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img


class LPIPSDistance:
    """The protocol's PPL distance: LPIPS(ppl_images(img0), ppl_images(img1)), run under ``strategy`` (default:
    the current one) with the pairs split across its replicas."""

    def __init__(self, lpips, strategy=None):
        from keras_attngan.metrics.distributed import ReplicaMap
        self.lpips = lpips
        self._map = ReplicaMap(self._replica_fn, strategy)

    def _replica_fn(self, img0, img1):
        return self.lpips(ppl_images(img0), ppl_images(img1))

    def __call__(self, img0, img1):
        return self._map(img0, img1)


def _parse(m):  # NVlabs' sampling: 50k pairs, epsilon 1e-4, no face crop
    return 50_000, 0, {"space": m.group(1), "sampling": m.group(2), "epsilon": 1e-4, "crop": False}


@METRICS.register("ppl", forms=("ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend"), pattern=r"ppl_([zw])(full|end)",
                  parse=_parse, order=4)
def ppl(evaluator, spec):
    """Perceptual path length (Karras et al. 2019) with LPIPS-VGG16."""
    value = perceptual_path_length(evaluator.generator, evaluator._ppl_distance(),
                                   evaluator.ppl_num_samples or spec.num_fakes, spec.params["space"],
                                   spec.params["sampling"], spec.params["epsilon"], seed=evaluator.seed)
    return {spec.name: value}

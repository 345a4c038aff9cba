"""Spectral normalization (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks", ICLR) as a weight parameterization of the kernel layers: ``EqualizedDense``,
``EqualizedConv2D`` and ``ModulatedConv2D`` (base weight and style affine), chosen with
``weight_norm="spectral"`` (default ``"equalized"``: StyleGAN2's equalized learning rate, unchanged).

Notation. A kernel K (dense [in, out], conv [k, k, in, out]) is the matrix W = reshape(K, [fan_in, out])^T
of shape [out, fan_in] (y = W x, the paper's orientation). The layer uses W_SN = W / sigma(W) (Eq. 8),
sigma(W) the largest singular value, estimated with the power iteration of Sec. 2.2 (Algorithm 1 in
Appendix A) from a persistent vector u [out]:

    v     = normalize(W^T u)        (= normalize(K u) in K's layout)
    u'    = normalize(W v)          (= normalize(K^T v))
    sigma = u'^T W v = |W v|        (u', v approximate the first singular vectors)

u' and v are constants for the gradient, so for an upstream gradient G of W_SN the kernel gets
(G - <G, W_SN> u' v^T) / sigma: the gradient analysed in Sec. 2.3, including the term through sigma.
Convolutions are normalized as the [k*k*in, out] matrix, as the paper does; that bounds the matrix,
not exactly the operator norm of the convolution.

**Why not keras.layers.SpectralNormalization.** It ``assign``s its u vector (and the wrapped kernel) inside
``call``. This project XLA-compiles each replica's forward/backward under MirroredStrategy and keeps every
variable update outside compiled code (see training/trainer.py). So here the forward is *pure*: it reads u,
does one power iteration on a copy (u'), and assigns nothing; every forward of a step (G, D, R1, path
length) sees the same sigma. ``power_iterate()`` on a layer, or :func:`spectral_update` on a whole model,
advances the stored u by one iteration; the trainer calls ``spectral_update(G)`` / ``spectral_update(D)``
once per step after the optimizer updates, outside XLA. u is non-trainable with 'mean' aggregation:
every replica computes the same value from the same mirrored kernel (like the trainer's ``pl_mean``),
so the all-reduced mean is that value. G_ema copies G's u (non-trainable weights are copied).

**Initialization (our choice).** The kernel is stored as LeCun normal, N(0, 1/fan_in), divided by
``lr_mul``: the weight an equalized layer computes at run time, stored directly; the forward uses K / sigma(K)
with no run-time gain. W / sigma(W) is invariant to the scale of W, so the init scale does not change the
forward pass (He, LeCun, Glorot or N(0, 1) give the same distribution of normalized weights). It sets the
learning speed instead: the gradient of W / sigma(W) scales as 1/|W| and Adam divides scales out, so
Adam's step relative to the weights is about lr / std. LeCun scale is the middle of what the SN papers'
learning rates were tuned with (Miyato et al.'s Chainer code: LeCun/Glorot; SAGAN's PyTorch code: PyTorch's
default, std 1/sqrt(3 fan_in)), so their learning rates (SAGAN's TTUR 1e-4 / 4e-4) transfer. Consequence:
at StyleGAN2's lr 0.002 an SN layer moves ~sqrt(fan_in) times faster, relative to its weights, than an
equalized one (unit storage); use SN-style learning rates with SN. Dividing the std by ``lr_mul`` slows
the kernel by lr_mul, so ``lr_mul`` keeps its meaning (mapping network); biases are multiplied by lr_mul
at run time as in the equalized layers. u starts as N(0, I) normalized, drawn with a Keras initializer
(deterministic under ``keras.utils.set_random_seed``).
"""

import math

import keras
import tensorflow as tf

WEIGHT_NORMS = ("equalized", "spectral")


def check_weight_norm(value, allowed=WEIGHT_NORMS, owner=None):
    """``value`` if it is one of ``allowed``, else a one-line ValueError naming the field and the choices.

    A layer that takes the argument but has no kernel to normalize passes ``allowed=("equalized",)``.
    """
    if value not in allowed:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}weight_norm={value!r} is not one of {', '.join(allowed)}")
    return value


class UnitNormal(keras.initializers.RandomNormal):
    """N(0, I) scaled to unit L2 norm: the power iteration's starting vector."""

    def __call__(self, shape, dtype=None):
        x = super().__call__(shape, dtype)
        return x * keras.ops.rsqrt(keras.ops.sum(keras.ops.square(x)))


def _normalize(x):
    return tf.math.l2_normalize(x, epsilon=1e-12)


def power_iteration(kernel, u):
    """One power iteration (Algorithm 1) from ``u`` [out]: (sigma, u').

    Pure: nothing is assigned. sigma is differentiable w.r.t. ``kernel``; u' and v are constants.
    """
    k = tf.reshape(tf.convert_to_tensor(kernel), [-1, kernel.shape[-1]])  # [fan_in, out] = W^T
    v = tf.stop_gradient(_normalize(tf.linalg.matvec(k, tf.convert_to_tensor(u))))  # W^T u
    wv = tf.linalg.matvec(k, v, transpose_a=True)                                   # W v
    # u'^T W v = |W v| since u' = W v / |W v|: one matvec fewer, and the same gradient v u'^T (Sec. 2.3).
    sigma = tf.norm(wv)
    return sigma, tf.stop_gradient(_normalize(wv))


class KernelWeightNorm:
    """Mixin for a Keras layer whose weight is ``self.kernel`` (last axis = outputs).

    The layer sets ``self.weight_norm`` (via :func:`check_weight_norm`) in ``__init__``, creates its
    kernel with :meth:`add_kernel` in ``build`` and reads it with :meth:`runtime_kernel` in ``call``.
    """

    def add_kernel(self, shape, lr_mul=1.0):
        """Creates ``kernel`` and, for SN, the non-trainable ``sn_u`` [out].

        kernel ~ N(0, 1/lr_mul^2) for equalized (unit scale, gain at run time) and N(0, 1/(fan_in lr_mul^2))
        for spectral (LeCun scale, the scale SN's published learning rates were tuned with; module doc).
        """
        shape = tuple(int(s) for s in shape)
        fan_in = math.prod(shape[:-1])
        spectral = self.weight_norm == "spectral"
        std = 1.0 / (lr_mul * math.sqrt(fan_in)) if spectral else 1.0 / lr_mul
        self.kernel = self.add_weight(name="kernel", shape=shape,
                                      initializer=keras.initializers.RandomNormal(stddev=std))
        if spectral:
            self.sn_u = self.add_weight(name="sn_u", shape=(shape[-1],), initializer=UnitNormal(),
                                        trainable=False, aggregation="mean")
            self.weight_gain = None  # no equalized-lr gain: W / sigma(W) is scale-free
        else:
            self.weight_gain = lr_mul / math.sqrt(fan_in)

    def sigma(self):
        """The forward's estimate of the kernel's largest singular value (SN layers only)."""
        return power_iteration(self.kernel, self.sn_u)[0]

    def runtime_kernel(self, dtype):
        """The weight the forward uses: K * lr_mul / sqrt(fan_in) (equalized) or K / sigma(K) (spectral)."""
        if self.weight_norm == "spectral":
            return tf.cast(self.kernel / self.sigma(), dtype)  # sigma in float32, whatever ``dtype``
        return tf.cast(self.kernel, dtype) * self.weight_gain

    def power_iterate(self):
        """u <- normalize(W normalize(W^T u)): one iteration, assigned. No-op for equalized layers.

        Call outside XLA-compiled code (under tf.distribute: in replica or cross-replica context).
        """
        if self.weight_norm == "spectral":
            self.sn_u.assign(power_iteration(self.kernel, self.sn_u)[1])


def spectral_layers(model):
    """Every layer of ``model`` (itself included, recursively) that uses spectral normalization."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
            if isinstance(layer, KernelWeightNorm) and layer.weight_norm == "spectral"]


def spectral_update(model):
    """One power iteration on every SN layer of ``model``; returns how many layers were updated.

    Call once per training step after the optimizer updates, outside XLA-compiled code (e.g. in
    ``train_step`` next to ``update_w_avg``); a model without SN layers makes it a no-op.
    """
    layers = spectral_layers(model)
    for layer in layers:
        layer.power_iterate()
    return len(layers)

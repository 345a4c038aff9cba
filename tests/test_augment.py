"""keras_attngan.augment: DiffAugment and ADA against independent NumPy formulas, identities, gradients,
XLA and feature-map (GGDR) consistency (ADA's p, config and per-replica draws: test_augment_state.py)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan import augment
from keras_attngan.augment import ada as ada_mod
from keras_attngan.augment import diffaugment as da

SEED = tf.constant([7, 11], tf.int64)


def images(b=4, size=16, channels=3, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, (b, size, size, channels)).astype(np.float32)


def ada_params(b, **values):
    """Identity ADA params with some entries replaced by per-sample values."""
    p = augment.identity_params(b)
    p.update({k: tf.constant(np.broadcast_to(np.float32(v), p[k].shape)) for k, v in values.items()})
    return p


def shift_u(k, size):
    """The uniform that DiffAugment's translation maps to the integer shift k."""
    m = da.max_shift(size)
    return (k + m + 0.5) / (2 * m + 1)


# ----------------------------------------------------------------------------- identities
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("make", [lambda: augment.get("none"), lambda: augment.get("diffaugment", policy=""),
                                  lambda: augment.get("ada", p=0.0), lambda: augment.get("ada")],
                         ids=["none", "diffaugment_empty", "ada_fixed_p0", "ada_adaptive_start"])
def test_p0_and_empty_policy_are_the_identity_bit_for_bit(make, channels):
    aug = make()
    x = images(channels=channels)
    params = aug.draw(4, SEED)
    np.testing.assert_array_equal(aug.apply(tf.constant(x), params).numpy(), x)
    np.testing.assert_array_equal(aug.apply_geometric(tf.constant(x[:, :8, :8]), params).numpy(), x[:, :8, :8])
    jitted = tf.function(aug.apply, jit_compile=True)
    np.testing.assert_array_equal(jitted(tf.constant(x), params).numpy(), x)


def test_is_identity_flags():
    assert augment.get("none").is_identity and augment.get("diffaugment", policy="").is_identity
    assert augment.get("ada", p=0.0).is_identity
    assert not augment.get("ada").is_identity and not augment.get("diffaugment").is_identity


def test_ada_p0_draw_is_the_identity_params():
    drawn = augment.get("ada", p=0.0).draw(5, SEED)
    for k, v in augment.identity_params(5).items():
        np.testing.assert_array_equal(drawn[k].numpy(), v.numpy(), err_msg=k)


def test_ada_p1_applies_every_op():
    drawn = augment.get("ada", p=1.0).draw(64, SEED)
    assert np.all(drawn["scale"].numpy() != 1) and np.all(drawn["hue"].numpy() != 0)
    assert np.all(np.abs(drawn["xint"].numpy()) <= ada_mod.XINT_MAX)
    assert 0.3 < drawn["xflip"].numpy().mean() < 0.7 and set(drawn["rot90"].numpy()) == {0, 1, 2, 3}


# ----------------------------------------------------------------------------- DiffAugment vs NumPy
def test_diffaugment_color_ops_match_numpy():
    x = images()
    b, s, c = np.float32([-0.5, 0.1, 0.3, 0.49]), np.float32([0, 0.5, 1.7, 2]), np.float32([0.5, 0.9, 1.2, 1.49])
    bc = lambda v: v[:, None, None, None]  # noqa: E731
    np.testing.assert_allclose(da.brightness(x, b).numpy(), x + bc(b), atol=1e-6)
    m = x.mean(axis=3, keepdims=True)
    np.testing.assert_allclose(da.saturation(x, s).numpy(), (x - m) * bc(s) + m, atol=1e-6)
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(da.contrast(x, c).numpy(), (x - m) * bc(c) + m, atol=1e-6)


def test_diffaugment_translation_shift_is_uniform_over_minus_m_to_m():
    u = (np.arange(9000, dtype=np.float32) + 0.5) / 9000
    shifts = da.translation_shift(tf.constant(u), 32).numpy()  # m = 4
    values, counts = np.unique(shifts, return_counts=True)
    np.testing.assert_array_equal(values, np.arange(-4, 5))
    assert counts.min() == counts.max() == 1000
    assert da.max_shift(8) == 1 and da.max_shift(16) == 2 and da.max_shift(12) == 2


@pytest.mark.parametrize("shift", [(0, 0), (2, -1), (-2, 2), (1, 0)])
def test_diffaugment_translation_matches_numpy(shift):
    x = images(b=1)
    ty, tx = shift
    u = tf.constant([[shift_u(ty, 16), shift_u(tx, 16)]], tf.float32)
    m = da.max_shift(16)
    padded = np.pad(x, [(0, 0), (m, m), (m, m), (0, 0)])  # zero fill
    expected = padded[:, m + ty:m + ty + 16, m + tx:m + tx + 16]  # out[i] = x[i + s]
    np.testing.assert_array_equal(da.translation(tf.constant(x), u).numpy(), expected)


@pytest.mark.parametrize("u", [(0.0, 0.0), (0.5, 0.25), (0.999, 0.6), (0.3, 0.999)])
@pytest.mark.parametrize("size", [16, 9])
def test_diffaugment_cutout_matches_numpy(u, size):
    x = images(b=1, size=size)
    k = int(size / 2 + 0.5)
    mask = np.ones((size, size), np.float32)
    oy, ox = (int(np.floor(v * (size + 1 - k % 2))) for v in u)
    mask[max(oy - k // 2, 0):max(oy - k // 2 + k, 0), max(ox - k // 2, 0):max(ox - k // 2 + k, 0)] = 0
    out = da.cutout(tf.constant(x), tf.constant([u], tf.float32)).numpy()
    np.testing.assert_array_equal(out, x * mask[None, :, :, None])
    assert (out == 0).any()


def test_diffaugment_policy_composes_in_order():
    x = images(b=2, size=8)
    aug = augment.get("diffaugment", policy="color,translation,cutout")
    params = aug.draw(2, SEED)
    expected = da.cutout(da.translation(da.contrast(da.saturation(da.brightness(
        x, params["brightness"]), params["saturation"]), params["contrast"]), params["translation"]),
        params["cutout"])
    np.testing.assert_array_equal(aug.apply(tf.constant(x), params).numpy(), expected.numpy())
    assert set(augment.get("diffaugment", policy="cutout").draw(2, SEED)) == {"cutout"}


# ----------------------------------------------------------------------------- ADA geometry vs NumPy
def test_ada_flip_rot90_and_integer_shift_match_numpy():
    x = images(b=4)
    aug = augment.get("ada", p=1.0)
    warp = lambda **v: aug.apply_geometric(tf.constant(x), ada_params(4, **v)).numpy()  # noqa: E731
    np.testing.assert_array_equal(warp(), x)
    np.testing.assert_array_equal(warp(xflip=1.0), x[:, :, ::-1])
    for k in range(4):
        np.testing.assert_array_equal(warp(rot90=float(k)), np.rot90(x, k, axes=(1, 2)))
    tx, ty = 2, -1  # xint is a fraction of the size: round(t * 16)
    out = warp(xint=np.float32([tx / 16, ty / 16]))
    padded = np.pad(x, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="reflect")  # numpy reflect = mirror, no repeat
    np.testing.assert_array_equal(out, padded[:, 4 - ty:4 - ty + 16, 4 - tx:4 - tx + 16])  # out[i] = x[i - t]
    # interior pixels are a plain roll
    np.testing.assert_array_equal(out[:, 2:-2, 3:-3], np.roll(x, (ty, tx), axis=(1, 2))[:, 2:-2, 3:-3])
    # composition: flip after rotation after shift (the inverse matrices chain output -> input)
    both = warp(xflip=1.0, rot90=1.0)
    np.testing.assert_array_equal(both, np.rot90(x[:, :, ::-1], 1, axes=(1, 2)))


def test_ada_fractional_ops_move_pixels_smoothly():
    x = images(b=1, size=16)
    aug = augment.get("ada", p=1.0)
    half = aug.apply_geometric(tf.constant(x), ada_params(1, xfrac=np.float32([0.5 / 16, 0]))).numpy()
    # half-pixel shift to the right: the mean of each pixel and its left neighbour (interior columns)
    np.testing.assert_allclose(half[:, :, 1:], (x[:, :, 1:] + x[:, :, :-1]) / 2, atol=1e-6)
    quarter = aug.apply_geometric(tf.constant(x), ada_params(1, rotate_pre=math.pi / 2)).numpy()
    np.testing.assert_allclose(quarter, np.rot90(x, 1, axes=(1, 2)), atol=1e-5)
    zoom = aug.apply_geometric(tf.constant(x), ada_params(1, scale=2.0, aniso=1.0)).numpy()
    assert np.isfinite(zoom).all() and np.abs(zoom).max() <= 1.0 + 1e-6  # bilinear stays in the convex hull


# ----------------------------------------------------------------------------- ADA colour vs NumPy
V = np.ones(3) / np.sqrt(3)


def np_color(x, brightness=0.0, contrast=1.0, lumaflip=0.0, hue=0.0, saturation=1.0):
    """The bgc colour chain on [..., 3] pixels, written as vector formulas (not matrices)."""
    x = (x.astype(np.float64) + brightness) * contrast
    x = x - 2 * lumaflip * (x @ V)[..., None] * V                         # reflection across the grey plane
    dot = (x @ V)[..., None]
    x = x * np.cos(hue) + np.cross(V, x) * np.sin(hue) + V * dot * (1 - np.cos(hue))  # Rodrigues
    grey = (x @ V)[..., None] * V
    return grey + saturation * (x - grey)


COLOR_CASES = [dict(brightness=0.3), dict(contrast=1.7), dict(lumaflip=1.0), dict(hue=2.0), dict(hue=-0.7),
               dict(saturation=0.2), dict(saturation=3.0),
               dict(brightness=-0.2, contrast=0.6, lumaflip=1.0, hue=1.1, saturation=1.8)]


@pytest.mark.parametrize("values", COLOR_CASES, ids=lambda v: ",".join(v))
def test_ada_color_ops_match_numpy(values):
    x = images(b=2)
    out = augment.get("ada", p=1.0).apply(tf.constant(x), ada_params(2, **values)).numpy()
    np.testing.assert_allclose(out, np_color(x, **values), atol=2e-5)


@pytest.mark.parametrize("values", COLOR_CASES, ids=lambda v: ",".join(v))
def test_ada_color_on_grey_images_is_the_mean_of_grey_rgb(values):
    x = images(b=2, channels=1)
    out = augment.get("ada", p=1.0).apply(tf.constant(x), ada_params(2, **values)).numpy()
    expected = np_color(np.repeat(x, 3, axis=-1), **values).mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=2e-5)
    if set(values) <= {"hue", "saturation"}:
        np.testing.assert_allclose(out, x, atol=2e-6)  # no effect on grey
    if values == dict(lumaflip=1.0):
        np.testing.assert_allclose(out, -x, atol=1e-6)


def test_ada_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="3 channels"):
        augment.get("ada", p=1.0).apply(tf.zeros([1, 8, 8, 2]), augment.identity_params(1))


# ----------------------------------------------------------------------------- gradients and XLA
GRAD_CASES = [("diffaugment", "color", None), ("diffaugment", "translation", None), ("diffaugment", "cutout", None),
              ("ada", None, dict(rotate_pre=0.3, scale=1.2, aniso=0.9, xfrac=np.float32([0.03, -0.02]))),
              ("ada", None, dict(xflip=1.0, rot90=3.0, xint=np.float32([0.125, 0.0]))),
              ("ada", None, dict(brightness=0.2, contrast=1.3, lumaflip=1.0, hue=0.5, saturation=0.7))]


@pytest.mark.parametrize("name,policy,values", GRAD_CASES)
def test_gradients_reach_the_input(name, policy, values):
    x = tf.constant(images(b=2))
    if name == "diffaugment":
        aug = augment.get(name, policy=policy)
        params = aug.draw(2, SEED)
    else:
        aug, params = augment.get(name, p=1.0), ada_params(2, **values)
    weights = tf.constant(images(b=2, seed=1))
    for fn in (aug.apply, tf.function(aug.apply, jit_compile=True)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(fn(x, params) * weights)
        grad = tape.gradient(loss, x).numpy()
        assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


@pytest.mark.parametrize("name", ["diffaugment", "ada"])
def test_apply_compiles_under_xla_and_matches_eager(name):
    aug = augment.get(name, p=1.0) if name == "ada" else augment.get(name)
    x = tf.constant(images(b=4))
    params = aug.draw(4, SEED)
    jitted = tf.function(aug.apply, jit_compile=True)
    np.testing.assert_allclose(jitted(x, params).numpy(), aug.apply(x, params).numpy(), atol=1e-5)
    fmap = tf.constant(images(b=4, size=8, channels=5))
    geo = tf.function(aug.apply_geometric, jit_compile=True)
    np.testing.assert_allclose(geo(fmap, params).numpy(), aug.apply_geometric(fmap, params).numpy(), atol=1e-5)


def test_mixed_precision_dtype_is_kept():
    x = tf.constant(images(b=2), tf.float16)
    for aug in (augment.get("ada", p=1.0), augment.get("diffaugment")):
        assert aug.apply(x, aug.draw(2, SEED)).dtype == tf.float16


# ----------------------------------------------------------------------------- feature maps (GGDR)
def np_geometric(x, flip, k, tx, ty):
    """ADA's integer chain by NumPy: out(p) = in(F R T p) = shift_t(rot90_k(flip(in)))."""
    x = x[:, ::-1] if flip else x
    x = np.rot90(x, k, axes=(0, 1))
    n = x.shape[0]
    padded = np.pad(x, [(n, n), (n, n), (0, 0)], mode="reflect")
    return padded[n - ty:2 * n - ty, n - tx:2 * n - tx]


def test_ada_apply_geometric_moves_a_map_like_the_image():
    x = images(b=2, size=16)
    fmap = np.concatenate([x, images(b=2, size=16, channels=4, seed=3)], axis=-1)  # other channels
    geo = dict(xflip=np.float32([1, 0]), rot90=np.float32([1, 3]), xint=np.float32([[0.125, -0.0625], [0, 0.125]]))
    aug = augment.get("ada", p=1.0)
    image_geo = aug.apply(tf.constant(x), ada_params(2, **geo)).numpy()
    np.testing.assert_array_equal(image_geo[0], np_geometric(x[0], True, 1, 2, -1))
    np.testing.assert_array_equal(image_geo[1], np_geometric(x[1], False, 3, 0, 2))
    params = ada_params(2, **geo, brightness=0.5, hue=1.0)  # colour must not touch the map
    out = aug.apply_geometric(tf.constant(fmap), params).numpy()
    np.testing.assert_array_equal(out[..., :3], image_geo)
    np.testing.assert_array_equal(out[1], np_geometric(fmap[1], False, 3, 0, 2))
    # a smaller map: the same flip/rotation, translations rounded at its own size (half to even, as torch)
    small = images(b=2, size=8, channels=6, seed=4)
    out = aug.apply_geometric(tf.constant(small), params).numpy()
    np.testing.assert_array_equal(out[0], np_geometric(small[0], True, 1, 1, 0))  # (1, -0.5) -> (1, 0)
    np.testing.assert_array_equal(out[1], np_geometric(small[1], False, 3, 0, 1))


def test_diffaugment_apply_geometric_is_translation_and_cutout_only():
    x = images(b=3, size=16)
    params = augment.get("diffaugment").draw(3, SEED)
    full = augment.get("diffaugment", policy="color,translation,cutout")
    geometric = augment.get("diffaugment", policy="translation,cutout")
    np.testing.assert_array_equal(full.apply_geometric(tf.constant(x), params).numpy(),
                                  geometric.apply(tf.constant(x), params).numpy())
    small = tf.constant(images(b=3, size=8, channels=7))
    out = full.apply_geometric(small, params).numpy()
    assert out.shape == (3, 8, 8, 7) and (out == 0).any()
    # a map of another size follows the image's shift to within one of its pixels
    for u in np.linspace(0.01, 0.99, 25):
        big, little = (int(da.translation_shift(tf.constant([u], tf.float32), s)[0]) for s in (32, 8))
        assert abs(big * 8 / 32 - little) <= 1

"""Generation tools: grids, truncation, interpolation, style mixing and SAN attention maps, from the Python
generator and from an exported SavedModel; generate_main.py end to end on a restored run."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.export import export_generator, latents_from_seeds, to_uint8_tensor
from keras_attngan.generation import (MAX_IMAGES, KerasSource, SavedModelSource, animation_frames, attention_figure,
                                      interpolation_frames, kernel_norm_maps, parse_floats, parse_positions,
                                      parse_seeds, seed_grid, style_mixing_grid, truncation_sweep)
from keras_attngan.generation.attention_maps import attention_input, find_san_block, pixel_to_feature
from keras_attngan.generation.modes import mixed_ws
from keras_attngan.layers.attention.san import SANAttention
from keras_attngan.networks import Generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAN = {"type": "san", "resolution": 8, "patch_size": 3, "share_planes": 4}


@pytest.fixture(scope="module")
def san_g():
    tf.random.set_seed(3)
    G = Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16, attention=SAN)
    G.mapping.w_avg.assign(np.linspace(-1, 1, 8).astype(np.float32))
    return G


@pytest.fixture(scope="module")
def saved(san_g, tmp_path_factory):
    return export_generator(san_g, str(tmp_path_factory.mktemp("sm") / "san"))


def images_of(G, seeds, psi=1.0):
    z = latents_from_seeds(tf.constant(seeds, tf.int64), G.z_dim)
    ws = G.mapping.truncate(G.map(z), tf.fill([len(seeds)], psi))
    return to_uint8_tensor(G.synthesis(ws, noise_mode="const")).numpy()


def test_parse_seeds():
    assert parse_seeds("0-3,9") == [0, 1, 2, 3, 9] and parse_seeds("5") == [5]
    for bad in ("", "a", "3-1", "-2", "1,,2", "1-"):
        with pytest.raises(ValueError, match="seed list"):
            parse_seeds(bad)
    assert len(parse_seeds(f"0-{MAX_IMAGES - 1}")) == MAX_IMAGES
    with pytest.raises(ValueError, match="names 10000000001 seeds, more than 3: split"):
        parse_seeds("0-9999999999,7", limit=3)  # refused before a list of 10^10 seeds is made
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):  # as from_seeds: the same seeds
        latents_from_seeds(tf.constant([3, -1], tf.int64), 8)
    assert parse_floats("1, 0.5,-0.5", "--x") == [1.0, 0.5, -0.5]
    for bad in ("", "a", "1,nan", "inf"):
        with pytest.raises(ValueError, match="bad --x .*finite numbers"):
            parse_floats(bad, "--x")
    assert parse_positions("8,8;16, 24") == [(8, 8), (16, 24)]
    for bad in ("", "8", "8,8,8", "a,b", "8;9"):
        with pytest.raises(ValueError, match="positions"):
            parse_positions(bad)


def test_grid_and_truncation_are_the_generators_images(san_g):
    src = KerasSource(san_g)
    grid = seed_grid(src, [3, 4, 5, 6], cols=2)
    want = images_of(san_g, [3, 4, 5, 6])
    assert grid.shape == (32, 32, 1) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[:16, 16:], want[1])
    np.testing.assert_array_equal(grid[16:, :16], want[2])
    sweep = truncation_sweep(src, [3, 4], [1.0, 0.0])  # rows = seeds, cols = psi
    np.testing.assert_array_equal(sweep[16:, :16], want[1])
    np.testing.assert_array_equal(sweep[:16, 16:], sweep[16:, 16:])  # psi 0: every seed is the mean image
    np.testing.assert_array_equal(sweep[:16, 16:], images_of(san_g, [0], psi=0.0)[0])


def test_interpolation_ends_at_the_seeds_and_gif_frames(san_g):
    src = KerasSource(san_g)
    ends = images_of(san_g, [1, 2, 7], psi=0.7)
    for space in ("z", "w"):
        seg = interpolation_frames(src, [1, 2, 7], 4, space, psi=0.7)
        assert seg.shape == (2, 4, 16, 16, 1)
        assert np.abs(seg[0, 0].astype(int) - ends[0]).max() <= 1  # slerp normalises z: rounding only
        assert np.abs(seg[0, -1].astype(int) - ends[1]).max() <= 1
        np.testing.assert_array_equal(seg[0, -1], seg[1, 0])
        assert np.abs(seg[1, -1].astype(int) - ends[2]).max() <= 1
        assert len(animation_frames(seg)) == 2 * 3 + 1
    with pytest.raises(ValueError, match="at least 2 seeds"):
        interpolation_frames(src, [1], 4)


def test_style_mixing_grid_layout(san_g):
    src = KerasSource(san_g)
    grid = style_mixing_grid(src, [1, 2], [5, 6, 7], crossover=3)
    assert grid.shape == (3 * 16, 4 * 16, 1)
    assert not grid[:16, :16].any()
    np.testing.assert_array_equal(grid[:16, 16:32], images_of(san_g, [5])[0])  # top row: fine-style seeds
    np.testing.assert_array_equal(grid[32:48, :16], images_of(san_g, [2])[0])  # left column: coarse seeds
    ws = src.map(src.latents([2, 7]))
    cell = src.synthesize(mixed_ws(ws[:1], ws[1:], 3))[0]
    np.testing.assert_array_equal(grid[32:48, 48:64], cell)
    assert not np.array_equal(cell, images_of(san_g, [2])[0])
    with pytest.raises(ValueError, match="crossover"):
        style_mixing_grid(src, [1], [2], crossover=src.num_ws)


def test_saved_model_source_matches_the_generator(san_g, saved):
    k, s = KerasSource(san_g), SavedModelSource(saved)
    assert (s.z_dim, s.num_ws, s.resolution, s.img_channels) == (8, san_g.num_ws, 16, 1)
    np.testing.assert_array_equal(s.w_avg, san_g.mapping.w_avg.numpy())
    for make in (lambda src: seed_grid(src, [0, 1, 2]), lambda src: truncation_sweep(src, [0], [1.0, 0.5, -0.5]),
                 lambda src: interpolation_frames(src, [0, 1], 3, "w", 0.7),
                 lambda src: style_mixing_grid(src, [0, 1], [2], 0.7, 2)):
        a, b = make(k), make(s)
        assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1
    from_seeds = tf.saved_model.load(saved).signatures["from_seeds"](seeds=tf.constant([0, 1, 2], tf.int64))
    np.testing.assert_array_equal(seed_grid(s, [0, 1, 2], cols=3), np.concatenate(list(from_seeds["images"]), 1))
    with pytest.raises(ValueError, match="saved_model.pb"):
        SavedModelSource(os.path.dirname(saved))


def test_attention_input_is_what_san_sees_and_maps_stay_in_the_window(san_g, monkeypatch):
    ws = san_g.map(latents_from_seeds(tf.constant([0, 1], tf.int64), 8))
    seen = []
    original = SANAttention.call
    monkeypatch.setattr(SANAttention, "call", lambda self, x, *a, **k: (seen.append(x), original(self, x, *a, **k))[1])
    san_g.synthesis(ws, noise_mode="const")
    monkeypatch.undo()
    x = attention_input(san_g, ws)
    assert len(seen) == 1 and x.shape == (2, 8, 8, 16)
    np.testing.assert_allclose(x.numpy(), seen[0].numpy(), atol=1e-6)

    layer = find_san_block(san_g).conv1
    maps = kernel_norm_maps(layer, x, [(4, 4), (0, 7)])
    assert maps.shape == (2, 2, 8, 8)
    window = np.zeros((8, 8), bool)
    window[3:6, 3:6] = True  # s = 3 around (4, 4)
    assert (maps[:, 0][:, window] > 0).all() and not maps[:, 0][:, ~window].any()
    corner = np.zeros((8, 8), bool)
    corner[0:2, 6:8] = True  # the window of (0, 7) clipped by the border
    assert (maps[:, 1][:, corner] > 0).all() and not maps[:, 1][:, ~corner].any()
    w = layer.attention_kernel(x).numpy()
    np.testing.assert_allclose(maps[1, 0, 3, 5], np.linalg.norm(w[1, 4, 4, 0 * 3 + 2]), rtol=1e-5)
    assert pixel_to_feature((15, 0), 16, 8) == (0, 7)

    grid, maps2 = attention_figure(san_g, ws.numpy(), [(8, 8), (15, 0)])
    assert grid.shape == (2 * 16, 3 * 16, 3) and grid.dtype == np.uint8
    np.testing.assert_allclose(maps2, maps, rtol=1e-5)
    assert tuple(grid[8, 8]) == (0, 255, 255)  # the query position is marked
    with pytest.raises(ValueError, match="outside"):
        attention_figure(san_g, ws.numpy(), [(16, 0)])
    plain = Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16)
    with pytest.raises(ValueError, match="SAN"):
        find_san_block(plain)


def make_run(path, config):
    """A run directory as train_main.py leaves it, without training: writes ``<path>/config.json`` and
    returns the freshly built trainer (save a checkpoint of it with ``Checkpointer(path, trainer).save()``)."""
    from keras_attngan.training.setup import build_trainer

    with open(os.path.join(path, "config.json"), "w") as f:
        f.write(config.to_json_best_effort())
    return build_trainer(config)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A run directory with a config.json and one checkpoint of a tiny G with SAN at 8x8."""
    from keras_attngan.training.checkpoint import Checkpointer
    from tests.helpers import tiny_config

    config = tiny_config()
    config.model.g_attention.update(type="san", resolution=8, patch_size=3, share_planes=4)
    path = str(tmp_path_factory.mktemp("run"))
    trainer = make_run(path, config)
    trainer.g_ema.mapping.w_avg.assign(np.full([16], 0.3, np.float32))
    Checkpointer(path, trainer).save()
    return path, trainer.g_ema


def run_generate(*args):
    return subprocess.run([sys.executable, "generate_main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def read_png(path):
    return tf.io.decode_png(tf.io.read_file(str(path))).numpy()


def test_generate_main_writes_every_mode(workdir, tmp_path):
    from PIL import Image

    path, g_ema = workdir
    out = tmp_path / "out"
    r = run_generate(f"--workdir={path}", f"--outdir={out}", "--seeds=0-3", "--cols=4",
                     "--modes=grid,truncation,interp,mixing,attention", "--truncation_psis=1,0.5,0",
                     "--interp_space=w", "--interp_steps=5", "--gif", "--crossover=2", "--col_seeds=7,8",
                     "--positions=8,8;2,13")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sum(line.startswith("wrote ") for line in r.stdout.splitlines()) == 6
    sizes = {"grid.png": (16, 64, 1), "truncation.png": (64, 48, 1), "interp_w.png": (48, 80, 1),
             "mixing.png": (80, 48, 1), "attention.png": (64, 48, 3)}
    assert sorted(os.listdir(out)) == sorted(list(sizes) + ["interp_w.gif"])
    for name, shape in sizes.items():
        assert read_png(out / name).shape == shape, name
    np.testing.assert_array_equal(read_png(out / "grid.png"), np.concatenate(list(images_of(g_ema, [0, 1, 2, 3])), 1))
    gif = Image.open(io.BytesIO((out / "interp_w.gif").read_bytes()))
    assert gif.n_frames == 3 * 4 + 1 and gif.size == (16, 16)


def test_generate_main_from_saved_model_and_errors(workdir, tmp_path):
    path, g_ema = workdir
    saved = export_generator(g_ema, str(tmp_path / "sm" / "run"))
    out = tmp_path / "out"
    r = run_generate(f"--saved_model={saved}", f"--outdir={out}", "--seeds=2,5", "--modes=grid,mixing", "--psi=0.7")
    assert r.returncode == 0, r.stderr[-3000:]
    want = seed_grid(KerasSource(g_ema), [2, 5], 0.7)
    assert np.abs(read_png(out / "grid.png").astype(int) - want).max() <= 1
    assert read_png(out / "mixing.png").shape == (48, 48, 1)
    r = run_generate(f"--saved_model={saved}", f"--outdir={out}", "--modes=grid,attention")
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert r.returncode == 2 and len(errors) == 1 and "attention needs the Python generator" in errors[0], r.stderr
    assert "Traceback" not in r.stderr

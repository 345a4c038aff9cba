"""Generation and serving of class-conditional models (#26): generate_main.py --classes (one row per class,
one-line refusals), truncation towards each class's mean w, the conditional SavedModel's ``label`` input
(checked in the graph), and an unconditional export left as it was."""

import io
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.export import export_generator, latents_from_seeds, to_uint8_tensor
from keras_attngan.generation import KerasSource, SavedModelSource
from keras_attngan.generation import conditional as cond
from keras_attngan.networks import Generator
from tests.test_generate import read_png, run_generate

K = 10  # the embedded source's Fashion-MNIST classes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory (config.json with the class names, one checkpoint) of a tiny conditional G whose
    class means are set apart, its EMA generator and its SavedModel."""
    from keras_attngan.data.pipeline import label_info
    from keras_attngan.training.checkpoint import Checkpointer
    from keras_attngan.training.run_config import write_run_config
    from keras_attngan.training.setup import build_trainer
    from tests.helpers import tiny_config

    config = tiny_config()
    config.model.num_classes, config.data.labels = K, True
    path = str(tmp_path_factory.mktemp("cond_run"))
    trainer = build_trainer(config)
    mapping = trainer.g_ema.mapping
    mapping.w_avg.assign(np.full([16], 0.3, np.float32))
    mapping.class_w_avg.assign(np.random.RandomState(0).randn(K, 16).astype(np.float32))
    labels = label_info("embedded")
    write_run_config(path, config, labels)
    Checkpointer(path, trainer).save()
    saved = export_generator(trainer.g_ema, str(tmp_path_factory.mktemp("sm") / "cond"), list(labels.class_names))
    return path, trainer.g_ema, saved


@pytest.fixture(scope="module")
def loaded(run):
    return tf.saved_model.load(run[2])


def images_of(G, seeds, labels, psi=1.0):
    z = latents_from_seeds(tf.constant(seeds, tf.int64), G.z_dim)
    labels = tf.constant(labels, tf.int32)
    ws = G.mapping.truncate(G.map(z, labels=labels), tf.fill([len(seeds)], psi), labels=labels)
    return to_uint8_tensor(G.synthesis(ws, noise_mode="const")).numpy()


def test_generate_main_one_row_per_class(run, tmp_path):
    from PIL import Image

    path, g_ema, _ = run
    out = tmp_path / "out"
    r = run_generate(f"--workdir={path}", f"--outdir={out}", "--classes=0,3,7", "--seeds=0-3",
                     "--modes=grid,truncation,interp,mixing", "--truncation_psis=1,0", "--interp_steps=3", "--gif",
                     "--crossover=2", "--col_seeds=5,6")
    assert r.returncode == 0, r.stderr[-3000:]
    sizes = {"grid.png": (3 * 16, 4 * 16, 1), "truncation.png": (3 * 4 * 16, 2 * 16, 1),
             "interp_z.png": (3 * 3 * 16, 3 * 16, 1), "mixing.png": (3 * 5 * 16, 3 * 16, 1)}
    for name, shape in sizes.items():
        assert read_png(out / name).shape == shape, name
    grid = read_png(out / "grid.png")
    for row, c in enumerate([0, 3, 7]):  # row = class, columns = seeds
        np.testing.assert_array_equal(grid[row * 16:(row + 1) * 16],
                                      np.concatenate(list(images_of(g_ema, [0, 1, 2, 3], [c] * 4)), 1))
    trunc = read_png(out / "truncation.png")
    for c in range(3):  # psi = 0 (column 1): the class's mean-w image for each of its 4 seeds
        cells = [trunc[(c * 4 + s) * 16:(c * 4 + s + 1) * 16, 16:] for s in range(4)]
        assert all(np.array_equal(cells[0], cell) for cell in cells[1:])
    gif = Image.open(io.BytesIO((out / "interp_z.gif").read_bytes()))
    assert gif.n_frames == 3 * 2 + 1 and gif.size == (16, 3 * 16)  # the 3 classes' paths, one above the other


def test_generate_main_from_a_conditional_saved_model(run, tmp_path):
    """Without --classes image i has class i mod K; the SavedModel gives the run's images."""
    path, g_ema, saved = run
    out = tmp_path / "out"
    r = run_generate(f"--saved_model={saved}", f"--outdir={out}", "--seeds=8-11", "--modes=grid,interp,mixing",
                     "--cols=4", "--interp_steps=3", "--crossover=2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "class i mod 10" in r.stdout
    want = np.concatenate(list(images_of(g_ema, [8, 9, 10, 11], [0, 1, 2, 3])), 1)
    assert np.abs(read_png(out / "grid.png").astype(int) - want).max() <= 1
    assert read_png(out / "interp_z.png").shape == (3 * 16, 3 * 16, 1)
    assert read_png(out / "mixing.png").shape == (5 * 16, 5 * 16, 1)
    r = run_generate(f"--saved_model={saved}", f"--outdir={out}", "--classes=3,12")
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(errors) == 1, r.stderr
    assert errors[0].startswith("error: --classes: class 12 is out of range") and "ids 0-9" in errors[0]
    assert "9 Ankle boot" in errors[0]  # the class names travel with the SavedModel


def test_bad_classes_are_refused_in_one_line(run):
    _, g_ema, _ = run
    source = KerasSource(g_ema, class_names=["T-shirt/top", "Trouser"] + [f"c{i}" for i in range(2, K)])
    with pytest.raises(ValueError, match=r"class 10 is out of range: this model has 10 classes, ids 0-9 "
                                         r"\(0 T-shirt/top, 1 Trouser"):
        cond.check_classes(source, [1, 10])
    unconditional = KerasSource(Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16))
    with pytest.raises(ValueError, match="--classes needs a class-conditional model") as e:
        cond.check_classes(unconditional, [0])
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"class-conditional \(10 classes\): pass labels"):
        source.images(source.latents([0]), 1.0)
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.images(unconditional.latents([0]), 1.0, labels=[0])
    with pytest.raises(ValueError, match="bad --classes"):
        cond.parse_classes("0,x")


def test_truncation_moves_towards_the_class_mean(run, loaded):
    """psi = 0: every seed of a class gives the class's mean-w image; two classes differ. The SavedModel agrees."""
    _, g_ema, saved = run
    keras_source, saved_source = KerasSource(g_ema), SavedModelSource(saved)
    assert saved_source.num_classes == K and saved_source.class_names[9] == "Ankle boot"
    z = keras_source.latents([0, 1, 2])
    images = keras_source.images(z, 0.0, labels=[3, 3, 5])
    np.testing.assert_array_equal(images[0], images[1])
    assert not np.array_equal(images[0], images[2])
    mean = np.tile(g_ema.mapping.class_w_avg.numpy()[3][None, None], [1, g_ema.num_ws, 1])
    np.testing.assert_array_equal(images[0], keras_source.synthesize(mean)[0])
    assert np.abs(saved_source.images(z, 0.0, labels=[3, 3, 5]).astype(int) - images).max() <= 1
    np.testing.assert_allclose(saved_source.truncate(saved_source.map(z, [3, 3, 5]), 0.5, [3, 3, 5]),
                               keras_source.truncate(keras_source.map(z, [3, 3, 5]), 0.5, [3, 3, 5]), atol=1e-5)


def test_interpolation_between_classes_ends_at_each_class(run):
    _, g_ema, _ = run
    source = KerasSource(g_ema)
    segments = cond.class_interpolation(source, [4], [2, 6, 8], steps=4, between="classes")
    assert segments.shape == (1, 2, 4, 16, 16, 1)  # one path (seed 4) through 3 classes
    ends = images_of(g_ema, [4, 4, 4], [2, 6, 8])
    np.testing.assert_array_equal(segments[0, 0, 0], ends[0])
    np.testing.assert_array_equal(segments[0, 0, -1], ends[1])
    np.testing.assert_array_equal(segments[0, 1, -1], ends[2])
    assert cond.stacked_animation(segments).shape == (2 * 3 + 1, 16, 16, 1)


def test_conditional_saved_model_takes_a_checked_label(run, loaded):
    _, g_ema, _ = run
    sigs = loaded.signatures
    inputs = {name: sorted(sigs[name].structured_input_signature[1]) for name in sigs}
    assert inputs == {"serving_default": ["label", "psi", "z"], "from_seeds": ["label", "seeds"],
                      "mapping": ["label", "z"], "synthesis": ["ws"]}
    assert [n.decode() for n in loaded.class_names.numpy()][:2] == ["T-shirt/top", "Trouser"]
    z = latents_from_seeds(tf.constant([5, 6], tf.int64), g_ema.z_dim)
    labels = tf.constant([1, 8], tf.int32)
    out = sigs["serving_default"](z=z, psi=tf.constant([0.5, 0.5]), label=labels)["images"].numpy()
    assert np.abs(out.astype(int) - images_of(g_ema, [5, 6], [1, 8], psi=0.5)).max() <= 1
    seeds = sigs["from_seeds"](seeds=tf.constant([5, 6], tf.int64), label=labels)["images"].numpy()
    assert np.abs(seeds.astype(int) - images_of(g_ema, [5, 6], [1, 8])).max() <= 1
    np.testing.assert_allclose(sigs["mapping"](z=z, label=labels)["ws"], g_ema.map(z, labels=labels), atol=1e-5)
    bad = {"out of range": ([1, 10], r"label holds a class id outside \[0, 10\): send class ids 0 .. 9"),
           "negative": ([-1, 2], r"label holds a class id outside \[0, 10\)"),
           "rows missing": ([3], r"label must be int32 \[batch\]: one class id per row of z"),
           "empty": (np.zeros([0], np.int32), r"label must be int32 \[batch\]")}
    for case, (label, message) in bad.items():
        for name, args in (("serving_default", dict(z=z, psi=tf.ones([2]))), ("mapping", dict(z=z))):
            with pytest.raises(tf.errors.InvalidArgumentError) as e:
                sigs[name](label=tf.constant(label, tf.int32), **args)
            first = str(e.value).strip().splitlines()[0]
            assert "assertion failed: [" in first and re.search(message, first), (case, name, first)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one class id per row of seeds"):
        sigs["from_seeds"](seeds=tf.constant([1, 2], tf.int64), label=tf.constant([0], tf.int32))
    with pytest.raises(TypeError, match="label"):  # no label input at all: refused before the graph runs
        sigs["serving_default"](z=z, psi=tf.ones([2]))
    body = {"signature_name": "from_seeds", "instances": [{"seeds": 7, "label": 3}, {"seeds": 7, "label": 8}]}
    spec = sigs[body["signature_name"]].structured_input_signature[1]  # REST rows, stacked per input
    rest = sigs[body["signature_name"]](**{k: tf.constant([row[k] for row in body["instances"]], spec[k].dtype)
                                           for k in spec})["images"].numpy()
    assert np.abs(rest.astype(int) - images_of(g_ema, [7, 7], [3, 8])).max() <= 1


def test_unconditional_export_is_unchanged(tmp_path):
    tf.random.set_seed(2)
    G = Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16)
    m = tf.saved_model.load(export_generator(G, str(tmp_path / "plain")))
    inputs = {name: {k: (v.dtype, tuple(v.shape)) for k, v in m.signatures[name].structured_input_signature[1].items()}
              for name in m.signatures}
    assert inputs == {"serving_default": {"z": (tf.float32, (None, 8)), "psi": (tf.float32, (None,))},
                      "from_seeds": {"seeds": (tf.int64, (None,))}, "mapping": {"z": (tf.float32, (None, 8))},
                      "synthesis": {"ws": (tf.float32, (None, 6, 8))}}
    assert not hasattr(m, "class_names") and SavedModelSource(str(tmp_path / "plain" / "1")).num_classes == 0


def test_grpc_request_with_labels_fits_the_conditional_signature(loaded):
    from tests.test_export import grpc_client_module

    client = grpc_client_module()
    from tensorflow_serving.apis import predict_pb2

    z = np.random.RandomState(1).randn(3, 16).astype(np.float32)
    request = client.build_predict_request(z, 0.7, "cond", labels=[7])
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    arrays = {k: tf.make_ndarray(v) for k, v in parsed.inputs.items()}
    np.testing.assert_array_equal(arrays["label"], np.int32([7, 7, 7]))
    sig = loaded.signatures["serving_default"]
    assert set(arrays) == set(sig.structured_input_signature[1])
    assert sig(**{k: tf.constant(v) for k, v in arrays.items()})["images"].shape == (3, 16, 16, 1)
    with pytest.raises(ValueError, match="labels must be one class id or one per row"):
        client.build_predict_request(z, 1.0, "cond", labels=[1, 2])

"""SavedModel export: a fresh process reproduces the EMA generator; signatures check their inputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_attngan.export import export_generator, next_version_dir
from keras_attngan.networks import Generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOAD_AND_RUN = """
import json, sys, numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
z = np.load(sys.argv[2])["z"]
out = m.signatures["serving_default"](z=tf.constant(z), psi=tf.constant([1.0, 0.5, 0.0]))["images"].numpy()
seeds = m.signatures["from_seeds"](seeds=tf.constant([7, 8], tf.int64))["images"].numpy()
np.savez(sys.argv[3], images=out, seeds=seeds, sigs=np.array(sorted(m.signatures.keys())))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tf.random.set_seed(1)
    G = Generator(16, 1, z_dim=8, w_dim=8, mapping_layers=2, fmap_base=64, fmap_max=16)
    G.mapping.w_avg.assign(np.linspace(-1, 1, 8).astype(np.float32))
    base = str(tmp_path_factory.mktemp("saved_models") / "tiny")
    return G, export_generator(G, base), base


def test_versions_and_fresh_process_matches_generator(exported, tmp_path):
    G, path, base = exported
    assert path.endswith(os.sep + "1") and next_version_dir(base).endswith(os.sep + "2")
    z = np.random.RandomState(0).randn(3, 8).astype(np.float32)
    np.savez(tmp_path / "in.npz", z=z)
    r = subprocess.run([sys.executable, "-c", LOAD_AND_RUN, path, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr[-2000:]
    out = np.load(tmp_path / "out.npz")
    assert sorted(out["sigs"]) == ["from_seeds", "mapping", "serving_default", "synthesis"]
    ws = G.mapping.truncate(G.map(tf.constant(z)), tf.constant([1.0, 0.5, 0.0]))
    want = np.clip(G.synthesis(ws, noise_mode="const").numpy() * 127.5 + 128, 0, 255).astype(np.uint8)
    assert out["images"].dtype == np.uint8 and out["images"].shape == (3, 16, 16, 1)
    assert np.abs(out["images"].astype(int) - want).max() <= 1  # rounding at .5 boundaries only
    loaded = tf.saved_model.load(path)
    again = loaded.signatures["from_seeds"](seeds=tf.constant([8], tf.int64))["images"].numpy()
    np.testing.assert_array_equal(out["seeds"][1], again[0])  # a seed's image does not depend on its batch


def test_export_to_a_non_local_file_system(exported):
    """Versions are counted and written through tf.io.gfile: TF's in-memory ram:// stands in for gs://."""
    G, _, _ = exported
    base = "ram://saved_models_test/tiny"
    first = export_generator(G, base)
    assert first == base + "/1" and next_version_dir(base) == base + "/2"
    loaded = tf.saved_model.load(first)
    images = loaded.signatures["from_seeds"](seeds=tf.constant([3], tf.int64))["images"]
    assert images.shape == (1, 16, 16, 1) and images.dtype == tf.uint8


def test_wrong_shapes_are_rejected_clearly(exported):
    _, path, _ = exported
    m = tf.saved_model.load(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z must be float32 \[batch, 8\]"):
        m.signatures["serving_default"](z=tf.zeros([2, 5]), psi=tf.ones([2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="psi must be"):
        m.signatures["serving_default"](z=tf.zeros([2, 8]), psi=tf.ones([3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="ws must be"):
        m.signatures["synthesis"](ws=tf.zeros([1, 3, 8]))
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
        m.signatures["from_seeds"](seeds=tf.constant([1.5]))


Z8 = r"z must be float32 \[batch, 8\]: one row of 8 floats per image\] \[got shape\]"
PSI = r"psi must be float32 \[batch\]: one psi per row of z\] \[got shape\]"
BAD_REQUESTS = {  # signature, inputs, message: what TF Serving answers (INVALID_ARGUMENT) to a bad request
    "rank-1 z": ("serving_default", dict(z=np.zeros([8]), psi=np.ones([1])), Z8 + r" \[8\]"),
    "rank-3 z": ("serving_default", dict(z=np.zeros([1, 1, 8]), psi=np.ones([1])), Z8 + r" \[1 1 8\]"),
    "scalar psi": ("serving_default", dict(z=np.zeros([2, 8]), psi=np.float32(0.5)), PSI + r" \[\]"),
    "psi [batch, 1]": ("serving_default", dict(z=np.zeros([2, 8]), psi=np.ones([2, 1])), PSI + r" \[2 1\]"),
    "empty batch": ("serving_default", dict(z=np.zeros([0, 8]), psi=np.ones([0])), "z is empty"),
    "NaN z": ("serving_default", dict(z=np.full([1, 8], np.nan), psi=np.ones([1])), "z holds NaN or inf"),
    "inf psi": ("serving_default", dict(z=np.zeros([1, 8]), psi=np.float32([np.inf])), "psi holds NaN or inf"),
    "negative seed": ("from_seeds", dict(seeds=np.int64([3, -1])), "seeds must be non-negative"),
    "scalar seed": ("from_seeds", dict(seeds=np.int64(3)), r"seeds must be int64 \[batch\]"),
    "no seeds": ("from_seeds", dict(seeds=np.zeros([0], np.int64)), "seeds is empty"),
    "empty mapping": ("mapping", dict(z=np.zeros([0, 8])), "z is empty"),
    "rank-1 ws": ("synthesis", dict(ws=np.zeros([8])), r"ws must be float32 \[batch, 6, 8\]"),
    "NaN ws": ("synthesis", dict(ws=np.full([1, 6, 8], np.nan)), "ws holds NaN or inf"),
}


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1])


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_fail_with_a_readable_message(loaded, case):
    """Signature calls skip the input_signature's shape check, as TF Serving does: the signature's own
    asserts must catch a wrong rank before any op fails deep in the graph (or makes black images)."""
    name, inputs, message = BAD_REQUESTS[case]
    inputs = {k: tf.constant(v, tf.int64 if k == "seeds" else tf.float32) for k, v in inputs.items()}
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"assertion failed: \\[{message}"):
        loaded.signatures[name](**inputs)


def test_rest_instances_body_is_accepted(exported):
    """TF Serving's row format: one {"z": [...], "psi": p} object per example, stacked per input."""
    _, path, _ = exported
    body = json.loads(json.dumps({"instances": [{"z": [0.1] * 8, "psi": 0.7}, {"z": [-0.2] * 8, "psi": 1.0}]}))
    columns = {k: np.array([row[k] for row in body["instances"]], np.float32) for k in body["instances"][0]}
    images = tf.saved_model.load(path).signatures["serving_default"](**{k: tf.constant(v) for k, v in columns.items()})
    assert images["images"].shape == (2, 16, 16, 1)


def test_export_main_writes_next_version(tmp_path):
    from tests.test_main import TINY
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "train_main.py", *TINY, "--config.train.total_kimg=0.008", f"--workdir={run}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    for version in ("1", "2"):
        r = subprocess.run([sys.executable, "export_main.py", f"--workdir={run}", "--name=tiny",
                            f"--saved_models={tmp_path / 'sm'}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert os.path.isfile(tmp_path / "sm" / "tiny" / version / "saved_model.pb")


def test_from_seeds_is_deterministic(exported):
    _, path, _ = exported
    sig = tf.saved_model.load(path).signatures["from_seeds"]
    a = sig(seeds=tf.constant([3, 4], tf.int64))["images"].numpy()
    b = tf.saved_model.load(path).signatures["from_seeds"](seeds=tf.constant([3, 4], tf.int64))["images"].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])


def grpc_client_module():
    """examples/grpc_client.py; skipped only outside CI when tensorflow-serving-api is not installed."""
    import importlib.util

    if importlib.util.find_spec("tensorflow_serving") is None and not os.environ.get("CI"):
        pytest.skip("tensorflow-serving-api is not installed (pip install -r requirements.txt)")
    spec = importlib.util.spec_from_file_location("grpc_client", os.path.join(ROOT, "examples", "grpc_client.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grpc_predict_request_round_trips_and_fits_the_signature(exported):
    client = grpc_client_module()
    from tensorflow_serving.apis import predict_pb2

    _, path, _ = exported
    z = np.random.RandomState(1).randn(2, 8).astype(np.float32)
    request = client.build_predict_request(z, 0.7, "tiny")
    parsed = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert (parsed.model_spec.name, parsed.model_spec.signature_name) == ("tiny", "serving_default")
    arrays = {k: tf.make_ndarray(v) for k, v in parsed.inputs.items()}
    np.testing.assert_array_equal(arrays["z"], z)
    np.testing.assert_array_equal(arrays["psi"], np.float32([0.7, 0.7]))
    sig = tf.saved_model.load(path).signatures["serving_default"]
    assert set(arrays) == set(sig.structured_input_signature[1])
    assert sig(**{k: tf.constant(v) for k, v in arrays.items()})["images"].shape == (2, 16, 16, 1)
    with pytest.raises(ValueError, match="z must be"):
        client.build_predict_request(z[0], 1.0, "tiny")


def test_grpc_client_main_against_an_in_process_prediction_service(exported, tmp_path):
    """The client's main talks to a stand-in PredictionService (no model server is installable here)
    that answers Predict and GetModelMetadata from the SavedModel as TF Serving would."""
    client = grpc_client_module()
    from concurrent import futures

    import grpc
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

    G, path, _ = exported
    model = tf.saved_model.load(path)

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            sig = model.signatures[request.model_spec.signature_name or "serving_default"]
            out = sig(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
            response = predict_pb2.PredictResponse()
            response.outputs["images"].CopyFrom(tf.make_tensor_proto(out["images"].numpy()))
            return response

        def GetModelMetadata(self, request, context):
            with open(os.path.join(path, "saved_model.pb"), "rb") as f:
                graph = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0]
            defs = get_model_metadata_pb2.SignatureDefMap()
            for name, sig in graph.signature_def.items():
                defs.signature_def[name].CopyFrom(sig)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.metadata["signature_def"].Pack(defs)
            return response

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("localhost:0")
    server.start()
    try:
        out = tmp_path / "grpc.png"
        assert client.main([f"--server=localhost:{port}", "--model_name=tiny", "--seeds=0-3", f"--out={out}"]) == 0
    finally:
        server.stop(None)
    assert client.main([f"--server=localhost:{port}", "--z_dim=8", f"--out={tmp_path / 'x.png'}"]) == 1  # one line
    grid = tf.io.decode_png(tf.io.read_file(str(out))).numpy()
    want = model.signatures["from_seeds"](seeds=tf.constant([0, 1, 2, 3], tf.int64))["images"].numpy()
    np.testing.assert_array_equal(grid, np.concatenate([np.concatenate(list(want[:2]), 1),
                                                        np.concatenate(list(want[2:]), 1)], 0))

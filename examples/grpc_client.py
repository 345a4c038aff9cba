"""gRPC client for the exported generator served by TF Serving (port 8500).

    pip install tensorflow-serving-api==2.21.*    # in requirements.txt
    python examples/grpc_client.py --server=localhost:8500 --model_name=demo --seeds=0-7 --psi=0.7 --out=grpc.png

Sends one PredictRequest to the ``serving_default`` signature (inputs ``z`` float32 [batch, z_dim] and
``psi`` float32 [batch]; output ``images`` uint8 [batch, H, W, C]) and saves the images as a PNG grid.
The latents are the ones ``from_seeds`` and ``generate_main.py`` draw for the same seeds, so
``generate_main.py --saved_model=saved_models/demo/1 --seeds=0-7 --psi=0.7`` shows the same images.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf


def build_predict_request(z, psi, model_name, signature_name="serving_default"):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` with z [batch, z_dim] and psi [batch]
    (a scalar psi is repeated per example) as TensorProtos."""
    from tensorflow_serving.apis import predict_pb2

    z = np.asarray(z, np.float32)
    if z.ndim != 2:
        raise ValueError(f"z must be [batch, z_dim], got shape {z.shape}")
    psi = np.broadcast_to(np.asarray(psi, np.float32), [z.shape[0]])
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    request.inputs["z"].CopyFrom(tf.make_tensor_proto(z))
    request.inputs["psi"].CopyFrom(tf.make_tensor_proto(np.ascontiguousarray(psi)))
    return request


def predict(server, request, timeout=60.0):
    """Sends ``request`` to ``server`` (host:port); returns the uint8 images [batch, H, W, C]."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(server) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
    return tf.make_ndarray(response.outputs["images"])


def main(argv=None):
    import argparse

    from keras_attngan.export import latents_from_seeds
    from keras_attngan.generation import parse_seeds
    from keras_attngan.utils.images import make_grid, save_png

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="localhost:8500", help="TF Serving gRPC address")
    parser.add_argument("--model_name", default="demo")
    parser.add_argument("--signature_name", default="serving_default")
    parser.add_argument("--seeds", default="0-7", help="'0-7' or '1,5,9'")
    parser.add_argument("--psi", type=float, default=1.0, help="truncation psi")
    parser.add_argument("--z_dim", type=int, default=0, help="latent size (0: ask the server's metadata)")
    parser.add_argument("--out", default="grpc_grid.png")
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as e:
        parser.error(str(e))
    import grpc

    try:
        z_dim = args.z_dim or signature_z_dim(args.server, args.model_name, args.signature_name)
        z = latents_from_seeds(tf.constant(seeds, tf.int64), z_dim).numpy()
        images = predict(args.server, build_predict_request(z, args.psi, args.model_name, args.signature_name))
    except grpc.RpcError as e:
        print(f"error: {args.server}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    save_png(args.out, make_grid(images))
    print(f"wrote {args.out} ({len(seeds)} images {images.shape[1]}x{images.shape[2]} from {args.server})")
    return 0


def signature_z_dim(server, model_name, signature_name="serving_default"):
    """z_dim from the server's GetModelMetadata (the signature's input shape)."""
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    request.metadata_field.append("signature_def")
    with grpc.insecure_channel(server) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    return int(defs.signature_def[signature_name].inputs["z"].tensor_shape.dim[1].size)


if __name__ == "__main__":
    sys.exit(main())

"""gRPC client for the exported generator served by TF Serving (port 8500).

    pip install tensorflow-serving-api==2.21.*    # in requirements.txt
    python examples/grpc_client.py --server=localhost:8500 --model_name=demo --seeds=0-7 --psi=0.7 --out=grpc.png
    python examples/grpc_client.py --model_name=cond --seeds=0-3 --labels=7 --out=sneakers.png   # conditional

Sends one PredictRequest to the ``serving_default`` signature (inputs ``z`` float32 [batch, z_dim] and
``psi`` float32 [batch]; output ``images`` uint8 [batch, H, W, C]) and saves the images as a PNG grid.
The latents are the ones ``from_seeds`` and ``generate_main.py`` draw for the same seeds, so
``generate_main.py --saved_model=saved_models/demo/1 --seeds=0-7 --psi=0.7`` shows the same images.

A class-conditional model's signature has one more input, ``label`` int32 [batch] (one class id per row);
``--labels`` gives one id for every seed or one per seed. Without it the client asks the server's metadata
whether the signature takes a label, and stops with one ``error:`` line when it does.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf


def build_predict_request(z, psi, model_name, signature_name="serving_default", labels=None):
    """A ``tensorflow_serving.apis.predict_pb2.PredictRequest`` with z [batch, z_dim] and psi [batch]
    (a scalar psi is repeated per example) as TensorProtos; ``labels`` (a class-conditional model): the
    ``label`` input, int32 [batch] (a single id is repeated per example)."""
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
    if labels is not None:
        labels = np.asarray(labels, np.int32)
        if labels.ndim > 1 or labels.size not in (1, z.shape[0]):
            raise ValueError(f"labels must be one class id or one per row of z ({z.shape[0]}), got shape "
                             f"{labels.shape}")
        labels = np.ascontiguousarray(np.broadcast_to(labels.reshape(-1), [z.shape[0]]))
        request.inputs["label"].CopyFrom(tf.make_tensor_proto(labels))
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
    parser.add_argument("--labels", default=None, help="class-conditional model: one class id for all seeds, "
                                                        "or one per seed ('0,3,7,1')")
    parser.add_argument("--z_dim", type=int, default=0, help="latent size (0: ask the server's metadata)")
    parser.add_argument("--out", default="grpc_grid.png")
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
        labels = None if args.labels is None else [int(v) for v in args.labels.split(",")]
        if labels is not None and len(labels) not in (1, len(seeds)):
            raise ValueError(f"--labels has {len(labels)} class ids for {len(seeds)} seeds: give one, or one per seed")
    except ValueError as e:
        parser.error(str(e))
    import grpc

    try:
        z_dim, conditional = args.z_dim, labels is not None
        if not z_dim:
            z_dim, conditional = signature_inputs(args.server, args.model_name, args.signature_name)
            if conditional != (labels is not None):
                print(f"error: {args.model_name} is class-conditional: pass --labels=<class id> (one, or one per seed)"
                      if conditional else f"error: {args.model_name} is unconditional (its signature has no label "
                                          "input): drop --labels", file=sys.stderr)
                return 1
        z = latents_from_seeds(tf.constant(seeds, tf.int64), z_dim).numpy()
        request = build_predict_request(z, args.psi, args.model_name, args.signature_name, labels)
        images = predict(args.server, request)
    except grpc.RpcError as e:
        print(f"error: {args.server}: {e.code().name}: {e.details().splitlines()[0] if e.details() else ''}",
              file=sys.stderr)
        return 1
    save_png(args.out, make_grid(images))
    print(f"wrote {args.out} ({len(seeds)} images {images.shape[1]}x{images.shape[2]} from {args.server})")
    return 0


def signature_z_dim(server, model_name, signature_name="serving_default"):
    """z_dim from the server's GetModelMetadata (the signature's input shape)."""
    return signature_inputs(server, model_name, signature_name)[0]


def signature_inputs(server, model_name, signature_name="serving_default"):
    """(z_dim, whether the signature takes a ``label``: a class-conditional model) from the server's
    GetModelMetadata."""
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    request.metadata_field.append("signature_def")
    with grpc.insecure_channel(server) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    inputs = defs.signature_def[signature_name].inputs
    return int(inputs["z"].tensor_shape.dim[1].size), "label" in inputs


if __name__ == "__main__":
    sys.exit(main())

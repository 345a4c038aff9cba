"""Training-image input: one `build_dataset` for embedded, Fashion-MNIST idx, tfds, folder and npz sources."""

from keras_attngan.data.pipeline import DEFAULT_SOURCE, build_dataset, count_images, load_array
from keras_attngan.data.sources import ACCEPTED_FORMS, DataError, SourceSpec, parse_source

__all__ = [
    "ACCEPTED_FORMS",
    "DEFAULT_SOURCE",
    "DataError",
    "SourceSpec",
    "build_dataset",
    "count_images",
    "load_array",
    "parse_source",
]

"""``lineval``: linear evaluation of the discriminator's frozen penultimate features.

The protocol of ContraD's Table 3 (Jeong & Shin 2021, Sec. 4.3; jh-jeong/ContraD ``test_lineval.py``),
reduced: a linear (multinomial logistic regression) classifier is trained on D's penultimate features of
N labelled training images and its accuracy is reported on the test split. It runs for any D (features
are D's, heads or not). Departures from the reference, which trains with SGD (lr 0.1, milestones
60/75/90 epochs, minibatches): here full-batch Adam (``STEPS`` steps, lr ``LR``, L2 ``L2``) on z-scored
features, in NumPy (no new dependency), deterministic; N is 10k by default (``lineval<N>k``), not 50k.

Labels come from the run's labelled source (``data.labels``-capable: embedded, fashion_mnist, an npz with
``y``, TFDS with ``label``, dataset_tool output), tested on the split the class-conditional metrics test on
(``metrics.classifier.test_split``: ``data.test_source``, Fashion-MNIST's test split for embedded and
fashion_mnist, a TFDS test split, else a held-out tail); a source without labels is a one-line error.
"""

import numpy as np

from keras_attngan.metrics import classifier
from keras_attngan.metrics.registry import COUNT
from keras_attngan.registry import METRICS

STEPS, LR, L2 = 300, 0.01, 1e-4


def labelled_images(config, split, num=None, batch_size=256):
    """(uint8 batches [b, R, R, C] at the model's resolution and channels, int64 labels [n]) of the first
    ``num`` images of ``split`` ('train' or 'test', as :mod:`~keras_attngan.metrics.classifier` splits the
    run's labelled source)."""
    part = classifier.train_split(config) if split == "train" else classifier.test_split(config)
    images, labels = classifier.read_split(config, part, num, batch_size, pool=False)
    batches = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    return batches, labels.astype(np.int64)


class LinearHead:
    """The fitted classifier: ``logits(f) = ((f - mean) / std) @ w + b`` on D's features ``f`` [n, d] (a
    linear map of f, so it can be differentiated through; ContraD's self-conditional sampling does,
    :mod:`keras_attngan.generation.self_conditional`)."""

    def __init__(self, mean, std, w, b):
        self.mean, self.std, self.w, self.b = (np.asarray(a, np.float64) for a in (mean, std, w, b))

    @property
    def num_classes(self):
        return self.w.shape[1]

    def logits(self, features):
        return ((np.asarray(features, np.float64) - self.mean) / self.std) @ self.w + self.b

    def predict(self, features):
        return np.argmax(self.logits(features), axis=1)


def fit_linear_head(x, y, num_classes, steps=STEPS, lr=LR, l2=L2):
    """Multinomial logistic regression on features ``x`` [n, d] (z-scored here) with labels ``y`` [n]:
    minimises mean cross-entropy + l2/2 |W|^2 by full-batch Adam from zeros (deterministic). Returns the
    :class:`LinearHead`."""
    x = np.asarray(x, np.float64)
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    onehot = np.eye(num_classes)[y]
    params = [np.zeros((z.shape[1], num_classes)), np.zeros(num_classes)]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    for t in range(1, steps + 1):
        logits = z @ params[0] + params[1]
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        err = (p - onehot) / len(z)
        grads = [z.T @ err + l2 * params[0], err.sum(0)]
        for param, grad, (m1, m2) in zip(params, grads, moments):
            m1 += 0.1 * (grad - m1)
            m2 += 0.001 * (grad * grad - m2)
            param -= lr * (m1 / (1 - 0.9 ** t)) / (np.sqrt(m2 / (1 - 0.999 ** t)) + 1e-8)
    return LinearHead(mean, std, *params)


def fit_logistic(x, y, num_classes, steps=STEPS, lr=LR, l2=L2):
    """:func:`fit_linear_head`'s ``predict(x) -> labels``."""
    return fit_linear_head(x, y, num_classes, steps, lr, l2).predict


def features_of(features_fn, batches):
    """``features_fn`` (uint8 batch -> [b, d]) over ``batches``, concatenated to [n, d]."""
    return np.concatenate([np.asarray(features_fn(b)).reshape(len(b), -1) for b in batches])


def linear_evaluation(features_fn, train, test):
    """``features_fn``: uint8 batch -> [b, d] features; ``train``/``test``: (batches, labels). Returns
    (test accuracy, train accuracy)."""
    (train_batches, train_y), (test_batches, test_y) = train, test
    train_x = features_of(features_fn, train_batches)
    predict = fit_logistic(train_x, train_y, int(max(train_y.max(), test_y.max())) + 1)
    return (float(np.mean(predict(features_of(features_fn, test_batches)) == test_y)),
            float(np.mean(predict(train_x) == train_y)))


def _parse(m):  # no fakes: labelled reals for training, the test split for testing
    return 0, int(m.group(1)) * 1000 if m.group(1) else 10_000, {"num_test": 10_000}


@METRICS.register("lineval", forms=("lineval", "lineval<N>k"), pattern=rf"lineval(?:{COUNT})?", parse=_parse,
                  order=6)
def lineval(evaluator, spec):
    """ContraD's linear evaluation of D's penultimate features on labelled reals."""
    if evaluator.discriminator is None:
        raise ValueError("lineval needs the discriminator: evaluate a training checkpoint, not a SavedModel")
    train = labelled_images(evaluator.config, "train", spec.num_reals, evaluator.batch_size)
    test = labelled_images(evaluator.config, "test", spec.params["num_test"], evaluator.batch_size)
    acc, train_acc = linear_evaluation(lambda b: evaluator._d_features(b, "penultimate"), train, test)
    return {spec.name: acc, f"{spec.name}_train": train_acc}

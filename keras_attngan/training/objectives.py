"""Extra objective terms: the one interface through which a method adds losses to D's or G's objective.

The adversarial loss pair (``keras_attngan.losses``), R1, WGAN-GP and path-length regularization are the
training step's own. Anything else a method needs (ContraD's contrastive losses on D's features, GGDR's
decoder loss, ProGAN's drift penalty) is an :class:`ObjectiveTerm`: it names the D outputs and G features
it reads, gets them for the step's reals and fakes in a :class:`StepContext`, and returns ``(loss,
stats)``. It may add heads to D in :meth:`ObjectiveTerm.build` (so their weights are D's: optimizer, EMA
logic and checkpoint need no special case) and own state variables (checkpointed by the trainer). The
trainer iterates over the configured terms; it has no branch per method.

Terms run outside the XLA-compiled forward passes, inside the step's gradient tape, where collectives can
go: ``ctx.gather`` gives the global batch of a per-replica tensor (differentiable), for losses whose
negatives must span every replica. Their loss is a per-replica mean like the adversarial loss; the
trainer scales it by 1/replicas for the SUM all-reduce of gradients.
"""

import dataclasses
from typing import Any, Callable, Dict, Optional

import tensorflow as tf


@dataclasses.dataclass
class StepContext:
    """What a term sees in one phase. ``real_out`` / ``fake_out``: ``(logits, {name: tensor})`` of D on
    this replica's (augmented) reals and fakes, with the outputs the terms asked for; ``g_features``: the
    generator's ``{resolution: feature map}`` of the fakes (GGDR's target), when asked for; ``aug_params``:
    the augmentation parameters the fakes were drawn with (``augment.apply_geometric``);
    ``gather``: per-replica tensor -> global batch; ``real`` / ``fake``: the step's images before any
    augmentation (in the G step the fakes carry G's gradient; in the D step they are constants);
    ``random``: ``{term name: what its draw() returned}`` for this phase."""

    discriminator: Any
    augment: Any
    gather: Callable
    real_out: Optional[tuple] = None
    fake_out: Optional[tuple] = None
    g_features: Optional[Dict[int, tf.Tensor]] = None
    aug_params: Optional[dict] = None
    step: Any = None
    real: Any = None
    fake: Any = None
    random: Optional[dict] = None


class ObjectiveTerm:
    """Base class of an extra objective term; the defaults add nothing."""

    name = "term"
    d_outputs = ()        # D outputs (names of ``Discriminator.output_names()``) for reals and fakes in the D step
    g_outputs = ()        # D outputs for the fakes in the G step
    g_features = False    # whether the D step needs the generator's features of its fakes
    needs_reals_in_g = False  # whether the G step needs D's outputs on reals too
    # False: the term's d_loss/g_loss replace the adversarial loss on D's logits (ContraD's h_d). The trainer
    # then skips its own D passes and the loss pair, and R1 is taken on ``critic``.
    adversarial = True

    def build(self, trainer):
        """Called once inside the strategy scope after G and D exist: add heads to D here."""

    def draw(self, batch, seed):
        """Random inputs of one phase for ``batch`` local images, drawn outside compiled code from ``seed``
        (with :mod:`keras_attngan.rng`, so replicas get their rows of the global draw); they reach the
        term as ``ctx.random[self.name]`` (and, for R1, as ``critic``'s ``random``)."""
        return None

    def critic(self, discriminator, images, random):
        """With ``adversarial = False``: D's score [B, 1] of ``images`` (reals, for R1) given ``random``
        from :meth:`draw`; runs inside the compiled R1 pass."""
        raise NotImplementedError

    def d_loss(self, ctx):
        """(scalar loss added to D's main loss, {stat name: scalar}) or None."""
        return None

    def g_loss(self, ctx):
        """(scalar loss added to G's main loss, {stat name: scalar}) or None."""
        return None

    def state_variables(self):
        """{name: variable} of training state this term owns (checkpointed, restored, resumed)."""
        return {}

    def stat_names(self):
        """Names of the stats it reports (progress bar, TensorBoard, stats.jsonl)."""
        return ()


class DriftPenalty(ObjectiveTerm):
    """ProGAN's drift penalty (Karras et al. 2018, Sec. A.1): epsilon * E[D(x)^2] on D's real logits,
    keeping them from drifting far from 0 (used with WGAN-GP there). ``loss.drift`` = epsilon (0.001)."""

    name = "drift"

    def __init__(self, weight):
        self.weight = float(weight)

    def d_loss(self, ctx):
        logits = tf.cast(ctx.real_out[0], tf.float32)
        penalty = tf.reduce_mean(tf.square(logits))
        return self.weight * penalty, {"drift_penalty": penalty}

    def stat_names(self):
        return ("drift_penalty",)


def build_terms(config):
    """The extra terms a run's config asks for, in a fixed order (ContraD and GGDR register here)."""
    terms = []
    if config.loss.get("drift", 0.0):
        terms.append(DriftPenalty(config.loss.drift))
    if config.get("ggdr") and config.ggdr.weight > 0:  # Lee et al. 2022; imported here: methods import this module
        from keras_attngan.methods.ggdr import GGDRTerm

        terms.append(GGDRTerm.from_config(config))
    if config.get("contrad") and config.contrad.enabled:  # Jeong & Shin 2021
        from keras_attngan.methods.contrad import ContraD

        terms.append(ContraD.from_config(config))
    return terms

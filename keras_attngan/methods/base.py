"""Objective terms: the one interface through which a method adds losses to D's or G's objective.

The adversarial loss pair (``keras_attngan.losses``), R1, WGAN-GP and path-length regularization are the
training step's own. Anything else a method needs (ContraD's contrastive losses on D's features, GGDR's
decoder loss, ProGAN's drift penalty, bCR's consistency penalty) is an :class:`ObjectiveTerm`: it names
the D outputs and G features it reads, gets them for the step's reals and fakes in a
:class:`StepContext`, and returns ``(loss, stats)``. It reaches D only through the context's ``run_D``
(the configured augmentation, the reference batch, the named outputs it asks for). It may add heads to D
in :meth:`ObjectiveTerm.build` (so their weights are D's: optimizer, EMA logic and checkpoint need no
special case) and own state variables (checkpointed by the trainer). A term may replace the adversarial
loss on D's logits (:meth:`ObjectiveTerm.adversarial`, ContraD's h_d). The trainer iterates over the
configured terms; it has no branch per method.

A method registers its term in :data:`keras_attngan.registry.METHODS` where it is defined, with its
config section and its check (see :mod:`keras_attngan.methods`).

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
    ``random``: ``{term name: what its draw() returned}`` for this phase; ``run_D(images, ref, aug,
    outputs=())``: the step's one call of D, ``(logits, {name: output})`` of D on ``images`` augmented with
    params ``aug`` (a dict of ``draw_aug``; None: as they are) with ``ref`` as reference batch; ``ref``:
    this step's reference batch (None without reference attention); ``draw_aug(batch, seed)``: params of
    the configured augmentation for one D call site (None when it is the identity); ``real_labels`` /
    ``fake_labels``: the int labels of the reals and of the fakes of a class-conditional model (None
    otherwise), for a term's own D calls (``run_D(..., labels=...)``)."""

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
    run_D: Optional[Callable] = None
    ref: Any = None
    draw_aug: Optional[Callable] = None
    real_labels: Any = None
    fake_labels: Any = None


class ObjectiveTerm:
    """Base class of an extra objective term; the defaults add nothing."""

    name = "term"
    d_outputs = ()        # D outputs (names of ``Discriminator.output_names()``) for reals and fakes in the D step
    g_outputs = ()        # D outputs for the fakes in the G step
    g_features = False    # whether the D step needs the generator's features of its fakes
    needs_reals_in_g = False  # whether the G step needs D's outputs on reals too

    def build(self, trainer):
        """Called once inside the strategy scope after G and D exist: add heads to D here."""

    def adversarial(self):
        """The hook of a term that replaces the adversarial loss on D's logits: return an
        :class:`Adversarial` (the term's d_loss/g_loss then carry the adversarial part); None (the default)
        keeps the step's own loss pair."""
        return None

    def draw(self, batch, seed):
        """Random inputs of one phase for ``batch`` local images, drawn outside compiled code from ``seed``
        (with :mod:`keras_attngan.rng`, so replicas get their rows of the global draw); they reach the
        term as ``ctx.random[self.name]``."""
        return None

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


class Adversarial:
    """What the step needs from the adversarial objective: whether it runs D's passes on reals and fakes
    for a loss on D's logits (``logits``), that loss, the critic R1 penalises and its inputs. The step's
    own implementation is :class:`keras_attngan.training.adversarial.LogitLoss` (the configured loss pair
    on D's logits); a term returns another one from :meth:`ObjectiveTerm.adversarial`."""

    logits = False  # the step's D passes produce logits this objective reads (and the scores it logs)

    def g_loss(self, pair, real_logits, fake_logits):
        """G's adversarial loss (a per-replica scalar) from the step's logits."""
        return tf.zeros([])

    def d_loss(self, pair, real_logits, fake_logits):
        return tf.zeros([])

    def scores(self, real_logits, fake_logits):
        """{stat name: scalar} logged each step (real_score, fake_score)."""
        return {}

    def draw_critic(self, batch, seed):
        """Random inputs of the R1 pass, drawn outside compiled code."""
        return None

    def r1_inputs(self, real, random):
        """The images R1's gradient is taken with respect to (the reals by default)."""
        return real

    def critic(self, ctx_run_D, images, ref, random, labels=None):
        """D's score [B, 1] of ``images`` (with their ``labels``, conditional) for R1, inside the compiled R1
        pass."""
        raise NotImplementedError

"""Other GAN methods as configurations of this system: one module each, plugged into the training step
as :class:`~keras_attngan.training.objectives.ObjectiveTerm` objects (registered in ``build_terms``)."""

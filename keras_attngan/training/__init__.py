"""Training: the GAN keras.Model with its train_step, schedules, checkpoints and callbacks."""

"""Evaluation metrics: feature statistics, FID/KID/precision-recall/IS/FDDF math and metric names.

Submodules are imported explicitly by their users (e.g. ``keras_attngan.metrics.stats``)
so that this package imports cleanly even when an optional submodule is absent.
"""

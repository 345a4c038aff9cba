"""Image generation from a run's EMA generator or an exported SavedModel (``generate_main.py``):
seed grids, truncation sweeps, interpolations, style mixing and SAN attention maps; projection of real
images into the generator (``projector.py``, ``projection_io.py``; ``project_main.py``)."""

from keras_attngan.generation.attention_maps import attention_figure, kernel_norm_maps
from keras_attngan.generation.modes import (MAX_IMAGES, animation_frames, interpolation_frames, parse_floats,
                                            parse_positions, parse_seeds, save_gif, seed_grid, style_mixing_grid,
                                            truncation_sweep)
from keras_attngan.generation.sources import KerasSource, ProjectedSource, SavedModelSource

__all__ = ["MAX_IMAGES", "KerasSource", "ProjectedSource", "SavedModelSource", "animation_frames", "attention_figure",
           "interpolation_frames", "kernel_norm_maps", "parse_floats", "parse_positions", "parse_seeds", "save_gif",
           "seed_grid", "style_mixing_grid", "truncation_sweep"]

"""Projection (GAN inversion): reconstruct real images with a trained generator (StyleGAN2's projector).

    python project_main.py --workdir=runs/demo --target=shirt.png                 # runs/demo/projected/
    python project_main.py --workdir=runs/demo --target=fashion_mnist:test --count=8 --space=wplus --gif
    python project_main.py --saved_model=saved_models/demo/1 --target=photos/ --fit=pad
    python project_main.py --compare=runs/ns,runs/dual --target=fashion_mnist:test --count=8 --outdir=fig7

Per target in --outdir: proj_<name>.png (target | reconstruction), projected_<name>.npz (w or w+, the noise
maps, the final LPIPS and PSNR; `generate_main.py --ws=...npz` renders it), with --gif proj_<name>.gif, and one
JSON line on stdout. --compare=A,B,... projects the same targets with each generator (outputs in
--outdir/g<k>_<name>/) and writes compare.png (paper Fig. 7: targets, then each generator's reconstruction,
mean LPIPS in the header) and compare.md (the table). Method and defaults: keras_attngan/generation/projector.py.
"""

import json
import os
import sys

from keras_attngan.cli import start

start()  # before anything imports TensorFlow: hides its start-up banner; Ctrl-C exits 130 with one line

from absl import app, flags  # noqa: E402

from keras_attngan.cli import fail, parse_flags, quiet_python_logs  # noqa: E402

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory (its EMA generator).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "With --workdir: checkpoint path or name, e.g. ckpt-4 "
                                                      "(default: the latest).")
_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "Exported SavedModel version dir, e.g. saved_models/demo/1 "
                                                        "(its noise is fixed: W or W+ only).")
_COMPARE = flags.DEFINE_list("compare", None, "Runs and/or SavedModels to compare on the same targets (Fig. 7).")
_TARGET = flags.DEFINE_string("target", None, "An image file, a folder of images or a data source "
                                              "(fashion_mnist:test, npz:x.npz, tfds:name:split, ...).")
_COUNT = flags.DEFINE_integer("count", 0, "The first N images of a folder or data source (0 = all).")
_OUTDIR = flags.DEFINE_string("outdir", None, "Output directory (default: <workdir>/projected, or ./projected).")
_STEPS = flags.DEFINE_integer("steps", 1000, "Optimization steps per target.")
_SPACE = flags.DEFINE_enum("space", "w", ["w", "wplus"], "w: one w for all layers (NVlabs); wplus: one per layer.")
_NOISE = flags.DEFINE_boolean("optimize_noise", True, "Also optimise the noise maps (with --workdir; a "
                                                      "SavedModel's noise is fixed, so off there by default).")
_PIXEL = flags.DEFINE_float("pixel_weight", 0.0, "Weight of an added mean squared pixel error (images in [-1, 1]).")
_LR = flags.DEFINE_float("lr", 0.1, "Initial (peak) Adam learning rate.")
_NOISE_WEIGHT = flags.DEFINE_float("noise_regularize", 1e5, "Weight of the noise-map autocorrelation penalty.")
_W_SAMPLES = flags.DEFINE_integer("w_avg_samples", 10_000, "Mapped z samples for w_avg and w_std.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the w_avg samples and the w noise.")
_BATCH = flags.DEFINE_integer("batch", 8, "Targets optimised at once.")
_FIT = flags.DEFINE_enum("fit", None, ["resize", "pad"], "How targets become squares (default: the run's "
                                                          "data.fit, else resize).")
_LPIPS = flags.DEFINE_list("lpips", None, "LPIPS-VGG16 weight files (comma-separated): torchvision's "
                                          "vgg16-397923af.pth [and lpips' weights/v0.1/vgg.pth], or one .npz.")
_GIF = flags.DEFINE_boolean("gif", False, "Also write proj_<name>.gif: the optimization as an animation.")
_GIF_FRAMES = flags.DEFINE_integer("gif_frames", 50, "Snapshots in each GIF (plus the final image).")
_GIF_MS = flags.DEFINE_integer("gif_ms", 80, "Milliseconds per GIF frame.")
flags.DEFINE_bool("verbose", False, "Show TensorFlow's full logs.")


def check_flags():
    """Everything that can be checked before a model is loaded; ValueError with one line."""
    given = [f for f in (_WORKDIR, _SAVED_MODEL, _COMPARE) if f.value]
    if len(given) != 1:
        raise ValueError("pass exactly one of --workdir=<run>, --saved_model=<saved_models/name/version> or "
                         "--compare=<run or SavedModel>,<run or SavedModel>,...")
    if not _TARGET.value:
        raise ValueError("--target is required: an image file, a folder or a data source (e.g. fashion_mnist:test)")
    if _STEPS.value < 1:
        raise ValueError(f"--steps must be >= 1, got {_STEPS.value}")
    for flag, low in ((_BATCH, 1), (_W_SAMPLES, 2), (_GIF_FRAMES, 1), (_GIF_MS, 1)):
        if flag.value < low:
            raise ValueError(f"--{flag.name} must be >= {low}, got {flag.value}")
    if _SAVED_MODEL.value and _NOISE.present and _NOISE.value:
        raise ValueError("--optimize_noise needs the run's generator (a SavedModel's noise is fixed): pass "
                         "--workdir, or drop --optimize_noise")


def open_generator(path, checkpoint=None):
    """(label, source, the run's data.fit or None) of a run directory or a SavedModel version directory."""
    from keras_attngan.generation import KerasSource, SavedModelSource

    if os.path.isfile(os.path.join(path, "saved_model.pb")) or _SAVED_MODEL.value:
        parts = os.path.normpath(path).split(os.sep)
        return "/".join(parts[-2:]), SavedModelSource(path), None
    from keras_attngan.training.restore import restore_run

    config, trainer, ckpt, step = restore_run(path, checkpoint)
    print(f"restored {ckpt} (step {step})", flush=True)
    return os.path.basename(os.path.normpath(path)), KerasSource(trainer.g_ema), config.data.fit


class Progress:
    """The progress bar on stderr: step, mean LPIPS of the batch (with its w noise), elapsed time; redrawn in
    place on a terminal, one line per 10% otherwise (logs)."""

    def __init__(self, steps, width=30):
        import time

        self.steps, self.width, self.clock, self.start = steps, width, time.perf_counter, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, step, distances, _params):
        done = step + 1
        if not self.tty and done != self.steps and done % max(1, self.steps // 10):
            return
        filled = self.width * done // self.steps
        bar = "#" * filled + "." * (self.width - filled)
        line = (f"[{bar}] {done}/{self.steps} lpips {float(sum(distances)) / len(distances):.4f} "
                f"{self.clock() - self.start:.1f}s")
        print(("\r" + line) if self.tty else line, end="\n" if done == self.steps or not self.tty else "",
              file=sys.stderr, flush=True)


def project_all(source, lpips, targets, names, outdir, label):
    """Projects every target in batches, writes its files and JSON line; returns (images, lpips, psnr)."""
    import numpy as np

    from keras_attngan.generation import save_gif
    from keras_attngan.generation.projection_io import save_projection, side_by_side_frames
    from keras_attngan.generation.projector import Projector

    noise = _NOISE.value and source.generator is not None
    projector = Projector(source, lpips, steps=_STEPS.value, space=_SPACE.value, optimize_noise=noise,
                          pixel_weight=_PIXEL.value, initial_lr=_LR.value, noise_weight=_NOISE_WEIGHT.value,
                          w_avg_samples=_W_SAMPLES.value, seed=_SEED.value)
    frame_every = max(1, _STEPS.value // _GIF_FRAMES.value) if _GIF.value else 0
    images, dists, psnrs = [], [], []
    for first in range(0, len(targets), _BATCH.value):
        batch = targets[first:first + _BATCH.value]
        print(f"{label}: targets {first + 1}-{first + len(batch)} of {len(targets)}", flush=True)
        result = projector.project(batch.astype(np.float32) / 127.5 - 1.0, frame_every=frame_every,
                                   on_step=Progress(_STEPS.value))
        for i, name in enumerate(names[first:first + len(batch)]):
            png, npz = save_projection(outdir, name, batch[i], result, i)
            row = {"target": name, "generator": label, "lpips": round(float(result["lpips"][i]), 5),
                   "psnr": round(float(result["psnr"][i]), 3), "space": _SPACE.value, "steps": _STEPS.value,
                   "noise": noise, "png": png, "npz": npz}
            if frame_every:
                row["gif"] = os.path.join(outdir, f"proj_{name}.gif")
                save_gif(row["gif"], side_by_side_frames(batch[i], result["frames"][:, i]), _GIF_MS.value)
            print(json.dumps(row), flush=True)
        images.append(result["images"])
        dists.append(result["lpips"])
        psnrs.append(result["psnr"])
    return np.concatenate(images), np.concatenate(dists), np.concatenate(psnrs)


def run():
    from keras_attngan.generation.projection_io import compare_figure, compare_table, load_targets
    from keras_attngan.metrics.lpips import load_lpips
    from keras_attngan.utils.images import save_png

    check_flags()
    lpips = load_lpips(_LPIPS.value)  # before the models: a missing weight file is the cheapest error
    paths = _COMPARE.value or [_WORKDIR.value or _SAVED_MODEL.value]
    generators = [open_generator(p, _CHECKPOINT.value if _WORKDIR.value else None) for p in paths]
    shapes = {(s.resolution, s.img_channels) for _, s, _ in generators}
    if len(shapes) > 1:
        raise ValueError(f"--compare: the generators must share resolution and channels, got "
                         f"{', '.join(f'{p} {s.resolution}x{s.resolution}x{s.img_channels}' for p, (_, s, _) in zip(paths, generators))}")
    source = generators[0][1]
    fit = _FIT.value or generators[0][2] or "resize"
    names, targets = load_targets(_TARGET.value, source.resolution, source.img_channels, fit, _COUNT.value)
    outdir = _OUTDIR.value or (os.path.join(_WORKDIR.value, "projected") if _WORKDIR.value else "projected")
    print(f"projecting {len(targets)} target(s) from {_TARGET.value} ({fit}, {source.resolution}x{source.resolution}"
          f"x{source.img_channels}), {_STEPS.value} steps in {_SPACE.value}", flush=True)
    if not _COMPARE.value:
        project_all(source, lpips, targets, names, outdir, generators[0][0])
        return
    labels = [f"G{k + 1} {label}" for k, (label, _, _) in enumerate(generators)]
    results = [project_all(s, lpips, targets, names, os.path.join(outdir, f"g{k + 1}_{label.replace('/', '_')}"),
                           labels[k]) for k, (label, s, _) in enumerate(generators)]
    figure = compare_figure(targets, [r[0] for r in results], labels, [float(r[1].mean()) for r in results])
    save_png(os.path.join(outdir, "compare.png"), figure)
    table = compare_table(labels, paths, [r[1] for r in results], [r[2] for r in results])
    with open(os.path.join(outdir, "compare.md"), "w") as f:
        f.write(table)
    print(table + f"wrote {os.path.join(outdir, 'compare.png')} ({len(targets)} targets x {len(paths)} generators)",
          flush=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    quiet_python_logs()
    from keras_attngan.training.checkpoint import CheckpointError

    try:
        run()
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)

"""Images from a run's EMA generator (--workdir) or an exported SavedModel (--saved_model).

    python generate_main.py --workdir=runs/demo --seeds=0-15                        # <outdir>/grid.png
    python generate_main.py --saved_model=saved_models/demo/1 --modes=grid,truncation,interp,mixing --gif
    python generate_main.py --workdir=runs/attn --modes=attention --seeds=0-3 --positions="8,8;16,24"

Modes (--modes, comma-separated), each writing one file into --outdir:
  grid        grid.png: one image per seed (the SavedModel's from_seeds latents), psi = --psi
  truncation  truncation.png: rows = seeds, columns = --truncation_psis
  interp      interp_<z|w>.png: one row per consecutive seed pair, --interp_steps columns (slerp in z or
              lerp in w); with --gif also interp_<z|w>.gif, (len(seeds) - 1) * (steps - 1) + 1 frames
  mixing      mixing.png: rows = --seeds (coarse styles, ws before --crossover), columns = --col_seeds
              (fine styles), with the source images on the top row and left column
  attention   attention.png: per seed, the image with the query positions marked, then the SAN attention
              map of each --positions entry (x,y in image pixels) as a heat overlay (paper Fig. 5);
              needs --workdir (a SavedModel has no attention inputs)

Class-conditional models (model.num_classes > 0): --classes=0,3,7 (or 0-9) repeats each mode per class:
  grid rows = classes (columns = --seeds); truncation rows = the seeds of each class, truncated towards that
  class's own mean w; interp one row per seed pair within each class, or with --interp_between=classes one row
  per consecutive class pair at each seed (the seed's ws under the two classes, lerped: a class blend is only
  defined in w); mixing one table per class; attention rows = the seeds of each class. The GIF shows the paths
  one above the other. Without --classes, image / row / seed i gets class i mod num_classes. An unconditional
  model refuses --classes, and a class id out of range is refused naming the valid ids (and class names).

ContraD's self-conditional sampling (Jeong & Shin 2021; docs/methods.md): --self_conditional=<class id or name>
draws len(--seeds) images of that class from an *unconditional* ContraD run (--workdir): a linear head on D's
penultimate features (fitted once on the run's labelled data, cached in <workdir>/self_conditional/) steers
Langevin chains on the latents started at the seeds (the authors' cDDLS, --self_conditional_steps), or keeps the
seeds the head puts in the class (--self_conditional_method=rejection). Writes self_conditional_<class>.png.

--ws=projected_a.npz,projected_b.npz (files of project_main.py) replaces the seeds by projected latents, in
the order given: every mode renders them as it renders seeds (interp in w only); a run's generator uses each
projection's optimised noise maps (see generation.ProjectedSource), a SavedModel its fixed noise.

Seeds are non-negative (as the SavedModel's from_seeds). One file holds at most 10,000 images
(generation.MAX_IMAGES; --seeds=0-10000000 is refused before anything is made): split larger sets over
several runs. Bad flags, and a checkpoint that does not exist or holds NaN/inf, stop with one `error:` line.
"""

import os
import sys

from keras_attngan.cli import start

start()  # before anything imports TensorFlow: hides its start-up banner; Ctrl-C exits 130 with one line

from absl import app, flags  # noqa: E402

from keras_attngan.cli import fail, parse_flags, quiet_python_logs  # noqa: E402

MODES = ("grid", "truncation", "interp", "mixing", "attention")

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run directory (its EMA generator).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "With --workdir: checkpoint path or name, e.g. ckpt-4 "
                                                      "(default: the latest).")
_SAVED_MODEL = flags.DEFINE_string("saved_model", None, "Exported SavedModel version dir, e.g. saved_models/demo/1.")
_OUTDIR = flags.DEFINE_string("outdir", None, "Output directory (default: <workdir>/generated, or ./generated).")
_SEEDS = flags.DEFINE_string("seeds", "0-15", "Seeds (non-negative): '0-7', '1,5,9' or '0-3,10'.")
_PSI = flags.DEFINE_float("psi", 1.0, "Truncation psi for every mode except the truncation sweep.")
_MODES = flags.DEFINE_list("modes", ["grid"], f"Comma-separated modes: {','.join(MODES)}.")
_COLS = flags.DEFINE_integer("cols", 0, "grid: columns (0 = about square).")
_TRUNC_PSIS = flags.DEFINE_string("truncation_psis", "1,0.75,0.5,0.25,0,-0.5", "truncation: psi per column.")
_INTERP_SPACE = flags.DEFINE_string("interp_space", "z", "interp: 'z' (slerp) or 'w' (lerp).")
_INTERP_STEPS = flags.DEFINE_integer("interp_steps", 8, "interp: images per seed pair, both ends included.")
_GIF = flags.DEFINE_boolean("gif", False, "interp: also write an animated GIF.")
_GIF_MS = flags.DEFINE_integer("gif_ms", 80, "interp: milliseconds per GIF frame.")
_COL_SEEDS = flags.DEFINE_string("col_seeds", None, "mixing: seeds of the columns (default: --seeds).")
_CROSSOVER = flags.DEFINE_integer("crossover", 4, "mixing: ws [0, crossover) from the row seed, the rest from "
                                                  "the column seed (4 = StyleGAN's coarse styles, 4x4-8x8).")
_WS = flags.DEFINE_list("ws", None, "projected_<name>.npz files of project_main.py to render instead of seeds.")
_CLASSES = flags.DEFINE_string("classes", None, "Class-conditional models: class ids, '0,3,7' or '0-9': one row "
                                                "(block) per class. Default: image i gets class i mod num_classes.")
_INTERP_BETWEEN = flags.DEFINE_enum("interp_between", "seeds", ["seeds", "classes"],
                                    "interp with --classes: between consecutive seeds within each class, or between "
                                    "consecutive classes at each seed (lerp in w).")
_SELF_COND = flags.DEFINE_string("self_conditional", None, "ContraD runs: a class id or name; draws len(--seeds) "
                                  "images of it by self-conditional sampling (needs --workdir).")
_SELF_METHOD = flags.DEFINE_enum("self_conditional_method", "cddls", ["cddls", "rejection"],
                                 "self_conditional: Langevin chains on the latents (the authors') or rejection.")
_SELF_STEPS = flags.DEFINE_integer("self_conditional_steps", 1000, "self_conditional cddls: Langevin steps.")
_POSITIONS = flags.DEFINE_string("positions", None, "attention: 'x,y;x,y' in image pixels (default: centre and "
                                                    "the upper-left quarter's centre).")
flags.DEFINE_bool("verbose", False, "Show TensorFlow's full logs.")


def _seeds(flag):
    from keras_attngan.generation import parse_seeds

    try:
        return parse_seeds(flag.value)
    except ValueError as e:
        raise ValueError(f"--{flag.name}: {e}") from None


def image_counts(opts, steps):
    """Images each mode would put in its one file (checked against MAX_IMAGES before any is made)."""
    n, positions = len(opts["seeds"]), opts["positions"] or [None, None]  # attention's default: 2 positions
    k = len(opts["classes"] or [0])  # one row / block per class
    interp = n * (k - 1) * steps if opts["between"] == "classes" else k * (n - 1) * steps
    return {"grid": k * n, "truncation": k * n * len(opts["psis"]), "interp": interp,
            "mixing": k * (n + 1) * (len(opts["col_seeds"]) + 1), "attention": k * n * (len(positions) + 1)}


def check_flags():
    """Everything that can be checked before a model is loaded; ValueError with one line."""
    import math

    from keras_attngan.generation import MAX_IMAGES, parse_floats, parse_positions
    from keras_attngan.generation.conditional import parse_classes

    if bool(_WORKDIR.value) == bool(_SAVED_MODEL.value):
        raise ValueError("pass exactly one of --workdir=<run> or --saved_model=<saved_models/name/version>")
    modes = [m.strip() for m in _MODES.value if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"unknown --modes {bad or _MODES.value}: use some of {','.join(MODES)}")
    if "attention" in modes and _SAVED_MODEL.value:
        raise ValueError("--modes=attention needs the Python generator: pass --workdir instead of --saved_model")
    if _INTERP_SPACE.value not in ("z", "w"):
        raise ValueError(f"--interp_space must be 'z' or 'w', got {_INTERP_SPACE.value!r}")
    if _COLS.value < 0:
        raise ValueError(f"--cols must be >= 0 (0 = about square), got {_COLS.value}")
    if not math.isfinite(_PSI.value):
        raise ValueError(f"--psi must be a finite number, got {_PSI.value}")
    if _WS.value:
        if _SEEDS.present or _COL_SEEDS.value:
            raise ValueError("--ws replaces --seeds and --col_seeds (the projections are the images): drop them")
        if _INTERP_SPACE.value == "z" and _INTERP_SPACE.present:
            raise ValueError("--ws gives latents in w: use --interp_space=w (the default with --ws)")
    if _SELF_COND.value is not None:
        if not _WORKDIR.value:
            raise ValueError("--self_conditional needs a run's discriminator: pass --workdir instead of --saved_model")
        if _CLASSES.value is not None or _WS.value:
            raise ValueError("--self_conditional draws from an unconditional run's seeds: drop --classes and --ws")
        if _SELF_STEPS.value < 1:
            raise ValueError(f"--self_conditional_steps must be >= 1, got {_SELF_STEPS.value}")
    classes = parse_classes(_CLASSES.value) if _CLASSES.value is not None else None
    if classes is not None and _WS.value:
        raise ValueError("--ws renders projections, which have no class: drop --classes")
    if classes is not None and _COLS.value:
        raise ValueError("--classes makes one row per class (columns = --seeds): drop --cols")
    between = _INTERP_BETWEEN.value
    if "interp" in modes and between == "classes" and (classes is None or len(classes) < 2):
        raise ValueError("--interp_between=classes needs --classes with at least 2 class ids, e.g. --classes=0,3")
    seeds = list(range(len(_WS.value))) if _WS.value else _seeds(_SEEDS)
    if "interp" in modes and between == "seeds" and (len(seeds) < 2 or _INTERP_STEPS.value < 2):
        raise ValueError("--modes=interp needs at least 2 --seeds and --interp_steps >= 2")
    if "interp" in modes and _INTERP_STEPS.value < 2:
        raise ValueError("--modes=interp needs --interp_steps >= 2")
    opts = dict(modes=modes, seeds=seeds, psis=parse_floats(_TRUNC_PSIS.value, "--truncation_psis"),
                col_seeds=_seeds(_COL_SEEDS) if _COL_SEEDS.value else seeds, classes=classes, between=between,
                positions=parse_positions(_POSITIONS.value) if _POSITIONS.value else None)
    counts = image_counts(opts, _INTERP_STEPS.value)
    for mode in modes:
        if counts[mode] > MAX_IMAGES:
            raise ValueError(f"--modes={mode} would put {counts[mode]} images in one file, more than {MAX_IMAGES}: "
                             "split --seeds over several runs, each with its own --outdir (e.g. --seeds=0-99 "
                             "--outdir=out0, then --seeds=100-199 --outdir=out1)")
    return opts


def self_conditional(opts, outdir):
    """--self_conditional: len(seeds) images of one class from an unconditional ContraD run."""
    import numpy as np

    from keras_attngan.generation import self_conditional as sc
    from keras_attngan.training.run_config import load_run_config
    from keras_attngan.utils.images import make_grid, save_png

    class_id = sc.parse_class(_SELF_COND.value, load_run_config(_WORKDIR.value))
    seeds = opts["seeds"]
    samples, path, step = sc.sample_workdir(_WORKDIR.value, class_id, len(seeds), seed=min(seeds),
                                            checkpoint=_CHECKPOINT.value, method=_SELF_METHOD.value, psi=_PSI.value,
                                            steps=_SELF_STEPS.value)
    out = os.path.join(outdir, f"self_conditional_{class_id}.png")
    save_png(out, make_grid(samples.images, _COLS.value or None))
    share = float(np.mean(samples.classes == class_id))
    print(f"wrote {out} ({len(seeds)} images of class {class_id} from {path}, step {step}, "
          f"{_SELF_METHOD.value}; the head puts {share:.0%} of them in the class)", flush=True)
    return [out]


def load_source():
    from keras_attngan.generation import KerasSource, SavedModelSource

    if _SAVED_MODEL.value:
        return projected(SavedModelSource(_SAVED_MODEL.value))
    from keras_attngan.training.restore import restore_run

    config, trainer, path, step = restore_run(_WORKDIR.value, _CHECKPOINT.value)
    print(f"restored {path} (step {step})", flush=True)
    return projected(KerasSource(trainer.g_ema, class_names=config.data.get("class_names")))


def projected(source):
    """``source``, or with --ws the projections as a ProjectedSource over it."""
    if not _WS.value:
        return source
    from keras_attngan.generation import ProjectedSource
    from keras_attngan.generation.projection_io import load_projection

    loaded = [load_projection(p) for p in _WS.value]
    noise = [p["noise"] for p in loaded]
    if any(noise) and source.generator is None:
        print("note: the projections' optimised noise maps are not used (a SavedModel's noise is fixed), so the "
              "images differ from their proj_*.png; --workdir renders them exactly", flush=True)
    return ProjectedSource(source, [p["ws"] for p in loaded], noise)


def run(opts, source, outdir):
    """Writes each mode's files; returns their paths."""
    from keras_attngan import generation as gen
    from keras_attngan.generation import conditional as cond
    from keras_attngan.utils.images import save_png

    seeds, psi, written = opts["seeds"], _PSI.value, []
    classes = cond.check_classes(source, opts["classes"])
    if source.num_classes and classes is None:
        print(f"class-conditional model ({source.num_classes} classes): image / row / seed i has class i mod "
              f"{source.num_classes} (--classes=0,3,7 gives one row per class)", flush=True)

    def write(name, image, what):
        path = os.path.join(outdir, name)
        save_png(path, image)
        written.append(path)
        print(f"wrote {path} ({what})", flush=True)

    for mode in opts["modes"]:
        if mode == "grid" and classes is not None:
            write("grid.png", cond.class_grid(source, seeds, classes, psi),
                  f"{len(classes)} classes x {len(seeds)} seeds, psi {psi}")
        elif mode == "grid":
            write("grid.png", gen.seed_grid(source, seeds, psi, _COLS.value or None,
                                            cond.default_labels(source, len(seeds))), f"{len(seeds)} seeds, psi {psi}")
        elif mode == "truncation" and classes is not None:
            write("truncation.png", cond.class_truncation(source, seeds, classes, opts["psis"]),
                  f"{len(classes)} classes x {len(seeds)} seeds x psi {opts['psis']}, towards each class's mean w")
        elif mode == "truncation":
            write("truncation.png", gen.truncation_sweep(source, seeds, opts["psis"],
                                                         cond.default_labels(source, len(seeds))),
                  f"{len(seeds)} seeds x psi {opts['psis']}")
        elif mode == "interp":
            space, steps = "w" if _WS.value else _INTERP_SPACE.value, _INTERP_STEPS.value
            if classes is not None:
                segments = cond.class_interpolation(source, seeds, classes, steps, space, psi, opts["between"])
                name = "classes" if opts["between"] == "classes" else space
                what = (f"{len(seeds)} seeds x {len(classes) - 1} class pairs x {steps} steps, lerp in w"
                        if name == "classes" else f"{len(classes)} classes x {len(seeds) - 1} pairs x {steps} steps, "
                                                  f"{'slerp in z' if space == 'z' else 'lerp in w'}")
            else:
                segments = gen.interpolation_frames(source, seeds, steps, space, psi,
                                                    cond.default_labels(source, len(seeds)))[None]
                name = space
                what = f"{len(seeds) - 1} pairs x {steps} steps, {'slerp in z' if space == 'z' else 'lerp in w'}"
            write(f"interp_{name}.png", cond.make_rows(segments, steps), what)
            if _GIF.value:
                frames = cond.stacked_animation(segments)
                path = os.path.join(outdir, f"interp_{name}.gif")
                gen.save_gif(path, frames, _GIF_MS.value)
                written.append(path)
                print(f"wrote {path} ({len(frames)} frames)", flush=True)
        elif mode == "mixing":
            mix = (cond.class_mixing(source, seeds, opts["col_seeds"], classes, psi, _CROSSOVER.value)
                   if classes is not None else
                   cond.default_mixing(source, seeds, opts["col_seeds"], psi, _CROSSOVER.value))
            write("mixing.png", mix, f"{len(seeds)} coarse x {len(opts['col_seeds'])} fine, crossover "
                                     f"{_CROSSOVER.value}" + (f", {len(classes)} classes" if classes else ""))
        elif mode == "attention":
            r = source.resolution
            positions = opts["positions"] or [(r // 2, r // 2), (r // 4, r // 4)]
            flat, labels = (cond.flat_classes(seeds, classes) if classes is not None
                            else (seeds, cond.default_labels(source, len(seeds))))
            labels = {} if labels is None else {"labels": labels}
            ws = source.truncate(source.map(source.latents(flat), **labels), psi, **labels)
            grid, _ = gen.attention_figure(source.generator, ws, positions)
            what = f"{len(classes)} classes x " if classes is not None else ""
            write("attention.png", grid, f"{what}{len(seeds)} seeds x {len(positions)} positions")
    return written


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    quiet_python_logs()
    from keras_attngan.training.checkpoint import CheckpointError

    try:
        opts = check_flags()
        outdir = _OUTDIR.value or (os.path.join(_WORKDIR.value, "generated") if _WORKDIR.value else "generated")
        if _SELF_COND.value is not None:
            self_conditional(opts, outdir)
            return 0
        source = load_source()
        run(opts, source, outdir)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)

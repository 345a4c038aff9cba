"""The projector's inputs and outputs (``project_main.py``): targets, per-target files, the Fig. 7 figure.

* :func:`load_targets`: one image file, or any data source of ``keras_attngan.data`` (a folder,
  ``fashion_mnist:test``, an npz, ...), prepared by the training pipeline's own code (``prepare_image`` /
  ``load_array``: center crop, resize or pad, channel conversion) at the generator's resolution and channels.
* :func:`save_projection` / :func:`load_projection`: ``proj_<name>.png`` (target | reconstruction) and
  ``projected_<name>.npz`` (``ws`` [num_ws, w_dim], ``w`` [w_dim] for W, ``noise_00`` ... [H, W, 1] when the
  noise was optimised, ``lpips``, ``psnr``, ``space``), which ``generate_main.py --ws`` renders.
* :func:`compare_figure`: Yu et al. 2021 Fig. 7 layout, the targets in the first column and each generator's
  reconstruction beside them, under a header naming each generator and its mean LPIPS.
"""

import io
import os
import re

import numpy as np
import tensorflow as tf

from keras_attngan.data import folder
from keras_attngan.data.pipeline import count_images, load_array, prepare_image
from keras_attngan.data.sources import parse_source
from keras_attngan.utils.images import make_grid, save_png

MIN_CELL = 96  # compare_figure: cells are up-scaled (nearest) to at least this many pixels, so the text fits
HEADER = 26  # compare_figure: height of the header rows (two lines of PIL's default font)


def _safe(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "image"


def _read_image(path, resolution, channels, fit):
    try:
        image = folder.decode_image_file(tf.constant(path))
    except (tf.errors.OpError, ValueError) as e:
        reason = re.sub(r"\s*\[Op:\w+\].*$", "", getattr(e, "message", str(e)).split("\n")[0]).strip()
        raise ValueError(f"--target={path} is not a readable png/jpg image ({reason}): pass an image file, a "
                         "folder of images or a data source such as fashion_mnist:test") from None
    x = prepare_image(image, resolution, channels, fit)
    return np.clip(np.round((x.numpy() + 1.0) * 127.5), 0, 255).astype(np.uint8)


def load_targets(target, resolution, channels, fit="resize", count=0):
    """(names, uint8 [N, resolution, resolution, channels]) of ``target``: an image file (any extension
    TF decodes: png, jpg, gif, bmp) or a data source string; ``count`` > 0 takes the first ``count`` images."""
    if count < 0:
        raise ValueError(f"--count must be >= 0 (0 = every image of the source), got {count}")
    path = os.path.expanduser(target)
    if os.path.isfile(path) and not path.lower().endswith(".npz"):
        return [_safe(os.path.splitext(os.path.basename(path))[0])], _read_image(path, resolution, channels, fit)[None]
    if not os.path.exists(path) and os.path.splitext(path)[1].lower() in (".png", ".jpg", ".jpeg", ".gif", ".bmp"):
        raise ValueError(f"--target={target} does not exist: pass an existing image file, a folder of images or a "
                         "data source such as fashion_mnist:test")
    spec = parse_source(target)  # DataError (one line) for unknown forms, missing paths
    total = count_images(target)
    if count > (total or count):
        raise ValueError(f"--count={count} is larger than the {total} images of {target}: lower --count")
    n = count or total
    images = load_array(target, resolution, channels, fit=fit, subset=n)
    if spec.kind == "folder":
        names = [_safe(os.path.splitext(os.path.relpath(p, spec.path))[0])
                 for p in folder.list_image_files(spec.path)[:n]]
    else:
        names = [f"{_safe(spec.raw)}_{i:05d}" for i in range(len(images))]
    seen = {}
    for i, name in enumerate(names):  # a.png and a.jpg: a, a_1
        seen[name] = seen.get(name, -1) + 1
        names[i] = f"{name}_{seen[name]}" if seen[name] else name
    return names, images


def save_projection(outdir, name, target, result, i):
    """Writes target ``i`` of a ``Projector.project`` result: proj_<name>.png and projected_<name>.npz;
    returns their paths."""
    png, npz = os.path.join(outdir, f"proj_{name}.png"), os.path.join(outdir, f"projected_{name}.npz")
    save_png(png, np.concatenate([target, result["images"][i]], axis=1))
    arrays = {"ws": result["ws"][i], "lpips": np.float32(result["lpips"][i]), "psnr": np.float32(result["psnr"][i]),
              "space": np.array("w" if result["w"] is not None else "wplus")}
    if result["w"] is not None:
        arrays["w"] = result["w"][i]
    arrays.update({f"noise_{k:02d}": n[i] for k, n in enumerate(result["noise"])})
    buf = io.BytesIO()  # np.savez seeks back into its file, which a GFile opened for writing refuses
    np.savez(buf, **arrays)
    with tf.io.gfile.GFile(npz, "wb") as f:
        f.write(buf.getvalue())
    return png, npz


def load_projection(path):
    """{"ws": [num_ws, w_dim], "noise": [[H, W, 1], ...] (empty when not optimised)} of a projected_*.npz;
    ValueError (one line) for a missing or foreign file."""
    if not os.path.isfile(path):
        raise ValueError(f"--ws={path} does not exist: pass projected_<name>.npz files written by project_main.py")
    try:
        with np.load(path) as data:
            ws = np.asarray(data["ws"], np.float32)
            noise = [np.asarray(data[k], np.float32) for k in sorted(data.files) if k.startswith("noise_")]
    except Exception as e:  # noqa: BLE001 -- not an npz, or no ws array
        raise ValueError(f"--ws={path} is not a projection ({type(e).__name__}: {e}): pass projected_<name>.npz "
                         "files written by project_main.py") from None
    if ws.ndim != 2 or not np.all(np.isfinite(ws)):
        raise ValueError(f"--ws={path}: ws must be a finite [num_ws, w_dim] array, got shape {ws.shape}")
    return {"ws": ws, "noise": noise}


def side_by_side_frames(target, frames):
    """GIF frames of one target: [F, R, 2R, C], the target left of each snapshot."""
    return np.stack([np.concatenate([target, f], axis=1) for f in frames])


def compare_figure(targets, reconstructions, labels, mean_lpips):
    """Fig. 7 of Yu et al. 2021: rows = targets, columns = the target then each generator's reconstruction
    (``reconstructions``: one uint8 [N, R, R, C] per generator), cells up-scaled (nearest) to >= MIN_CELL
    pixels, a header with each column's label and the generator's mean LPIPS. uint8 [HEADER + N * s * R,
    (1 + G) * s * R, C], s = ceil(MIN_CELL / R)."""
    from PIL import Image, ImageDraw

    n, r, _, c = targets.shape
    scale = -(-MIN_CELL // r)
    columns = [targets] + list(reconstructions)
    cells = np.stack([col[i] for i in range(n) for col in columns])
    grid = make_grid(cells.repeat(scale, axis=1).repeat(scale, axis=2), cols=len(columns))
    header = Image.new("L", (grid.shape[1], HEADER), 0)
    draw, width = ImageDraw.Draw(header), r * scale
    chars = max(4, width // 6 - 1)
    for k, text in enumerate([("target", "")] + [(lab, f"LPIPS {d:.4f}") for lab, d in zip(labels, mean_lpips)]):
        draw.text((k * width + 3, 1), text[0][-chars:], fill=255)
        draw.text((k * width + 3, 13), text[1], fill=255)
    head = np.asarray(header, np.uint8)[..., None].repeat(c, axis=-1)
    return np.concatenate([head, grid], axis=0)


def compare_table(labels, paths, lpips, psnr):
    """A Markdown table: generator, source, mean LPIPS, mean PSNR."""
    rows = ["| generator | source | mean LPIPS | mean PSNR (dB) |", "| --- | --- | --- | --- |"]
    rows += [f"| {lab} | `{p}` | {np.mean(d):.4f} | {np.mean(q):.2f} |" for lab, p, d, q in zip(labels, paths, lpips, psnr)]
    return "\n".join(rows) + "\n"

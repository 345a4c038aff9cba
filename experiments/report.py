"""Tables and plots of the grids' results: <out>/results.md and <out>/<grid>.png (+ <grid>_best.png).

    python -m experiments.report --root=/work/exp_root [--out=docs/results] [--grids=losses,g_attention]
    python -m experiments.report --root=/work/exp27 --out=docs/results --grids=headline --md=headline.md

A table of the grids' ``compare`` pairs (the paper's headline comparisons, with paired differences), then one
table per grid: per configuration the mean +- std over seeds (sample std) of FID, KID, precision and
recall at the last kimg every seed of it reached, the training wall time and img/s. One PNG per grid: FID
and KID against kimg, one line per configuration (the mean over seeds) with the seeds' range as a band.
``<grid>_best.png``: the sample grid of the best run (lowest FID) at that kimg. With --out other than
--root, results.jsonl is copied there too. Plots use Pillow (already a dependency), no matplotlib.
"""

import math
import os
import shutil
import sys

from absl import app, flags

from experiments import common, stats
from keras_attngan.cli import fail, parse_flags

_ROOT = flags.DEFINE_string("root", None, "The --root of experiments/run.py (holds results.jsonl).")
_OUT = flags.DEFINE_string("out", None, "Where results.md and the PNGs go (default: --root).")
_GRIDS = flags.DEFINE_list("grids", None, "Grids to report (default: every grid with results).")
_AT_KIMG = flags.DEFINE_list("at_kimg", None, "One table per grid at each of these evaluation points (kimg) "
                              "instead of one at the last kimg all seeds of a configuration reached.")
_NOTES = flags.DEFINE_string("notes", None, "A Markdown file inserted under the title (what was run, how).")
_FEATURE_NET = flags.DEFINE_enum("feature_net", "inception", ["inception", "thumbnail"],
                                 "Which evaluations to report (run.py's --feature_net).")
_MD = flags.DEFINE_string("md", "results.md", "Name of the Markdown file written in --out; results.jsonl is copied "
                                              "beside it under the same stem (headline.md -> headline.jsonl).")

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
          (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
          # beyond matplotlib's tab10 (seed_methods has 12 configurations): dark, distinct from the above
          (0, 0, 0), (128, 0, 0), (0, 0, 128), (0, 128, 128), (128, 128, 0), (255, 215, 0)]


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def fmt(values, scale=1.0, digits=1):
    m, s = mean_std([None if v is None else v * scale for v in values])
    if m is None:
        return "-"
    return f"{m:.{digits}f}" + ("" if s is None else f" ± {s:.{digits}f}")


def collect(grid, rows, feature_net, at_kimg=None, num_fakes=None):
    """Per label (grid order): {"runs": [...], "curves": {seed: rows}, "kimg": table kimg, "final": rows there};
    ``num_fakes``: the evaluations with that many fakes (default: the grid's)."""
    sig = common.signature({**grid["metrics"], **({"num_fakes": num_fakes} if num_fakes else {})}, feature_net)
    out = {}
    for run in common.expand(grid):
        evals = [r for r in common.rows_of(rows, run.id, sig) if r["kimg"] <= grid["kimg"] + 1e-9]
        entry = out.setdefault(run.label, {"runs": [], "curves": {}, "errors": []})
        entry["runs"].append(run)
        entry["errors"] += [(run.seed, r) for r in evals if r.get("error")]
        ok = [r for r in evals if "fid" in r]
        if ok:
            entry["curves"][run.seed] = ok
    tick = grid["tick_kimg"]
    for entry in out.values():
        curves = entry["curves"]
        entry["kimg"] = min((common.nominal_kimg(c[-1], tick) for c in curves.values()), default=None)
        if at_kimg is not None:
            entry["kimg"] = float(at_kimg)
        entry["final"] = [r for c in curves.values() for r in c if common.nominal_kimg(r, tick) == entry["kimg"]]
    return {k: v for k, v in out.items() if v["curves"] or v["errors"]}


def table(grid, data, heading=True):
    m = grid["metrics"]
    overrides = ", ".join(f"`{k}={v}`" for k, v in {**grid.get("pinned", {}), **grid["overrides"]}.items()) \
        or "no overrides"
    lines = [f"### {grid['title']}", "",
             f"Budget {grid['kimg']:g} kimg (evaluated at {', '.join(f'{k:g}' for k in grid['eval_kimg'])} and at the "
             f"budget), base `{grid['base']}` with {overrides}; "
             f"FID / KID of {m['num_fakes']} fakes vs the first {m['num_reals']} images of `{m['reference']}`. "
             "Mean ± std over the seeds (sample std) at the kimg shown.", ""]
    if not heading:
        lines = []
    lines += ["| config | seeds | kimg | FID | KID x 10³ | precision | recall | train time (min) | img/s |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, e in data.items():
        f = e["final"]
        if not f and not e["errors"]:
            lines.append(f"| {label} | - | {e['kimg']:g} | not reached | | | | | |")
            continue
        if not f:
            seed, err = e["errors"][0]
            lines.append(f"| {label} | {seed} | - | failed at {err['kimg']:g} kimg: {err['error'][:80]} | | | | | |")
            continue
        seeds = ",".join(str(r["seed"]) for r in sorted(f, key=lambda r: r["seed"]))
        lines.append(f"| {label} | {seeds} | {e['kimg']:g} | {fmt([r['fid'] for r in f])} | "
                     f"{fmt([r['kid'] for r in f], 1000, 2)} | {fmt([r['precision'] for r in f], digits=3)} | "
                     f"{fmt([r['recall'] for r in f], digits=3)} | "
                     f"{fmt([r.get('train_seconds') for r in f], 1 / 60)} | {fmt([r.get('img_per_s') for r in f])} |")
        for seed, err in e["errors"]:
            lines.append(f"| {label} | {seed} | - | failed at {err['kimg']:g} kimg | | | | | |")
    return lines


def _fmt_p(p):
    return "-" if math.isnan(p) else f"{p:.3f}"


def _interval(low, high):
    return "-" if math.isnan(low) or math.isnan(high) else f"[{low:+.1f}, {high:+.1f}]"


def comparisons(grid_names, rows, feature_net):
    """The grids' ``compare`` pairs (baseline -> method, the paper's numbers beside them) at every evaluation point
    both reached with the same seeds: mean ± std over those seeds, the paired difference (same seed = same
    data order and latents) with its 95% interval by Student's t and by bootstrap, the exact sign test and the
    verdict of ``experiments.stats.verdict`` (``paper_gain`` of the compare entry: the paper's smallest relative
    FID gain)."""
    lines = []
    for name in grid_names:
        grid = common.load_grid(name)
        tick = grid["tick_kimg"]
        points = sorted(set(grid["eval_kimg"]) | {float(grid["kimg"])})
        by_count = {n: collect(grid, rows, feature_net, num_fakes=n) for n in common.fake_counts(grid, grid["kimg"])}
        for c in grid.get("compare", ()):
            first = True
            for k in points:
                for n in common.fake_counts(grid, k):
                    at = {}
                    for side in ("baseline", "method"):
                        curves = by_count[n].get(c[side], {}).get("curves", {})
                        # rows by kimg in file order: a point evaluated twice keeps its newest line
                        at[side] = {seed: r for seed, rs in curves.items() for r in rs
                                    if common.nominal_kimg(r, tick) == k}
                    seeds = sorted(set(at["baseline"]) & set(at["method"]))
                    if not seeds:
                        continue
                    base, meth = ([at[side][s]["fid"] for s in seeds] for side in ("baseline", "method"))
                    st = stats.summary(base, meth, c.get("paper_gain"))
                    lines.append(
                        f"| {c['name'] if first else ''} | {c.get('paper', '') if first else ''} | {k:g} | "
                        f"{n} | {','.join(map(str, seeds))} | {fmt(base)} → {fmt(meth)} | "
                        f"{st['diff']:+.1f} {_interval(st['t_low'], st['t_high'])} | "
                        f"{_interval(st['boot_low'], st['boot_high'])} | "
                        f"{st['better']}/{st['worse']}, p {_fmt_p(st['p_sign'])} | {st['verdict']} |")
                    first = False
    if not lines:
        return []
    return ["## Headline comparisons", "",
            "FID, lower is better; differences are method − baseline per seed (negative: the method is better). "
            "t: the 95% interval of the mean difference by Student's t; bootstrap: its 95% percentile interval "
            "(10,000 resamples of the seeds); sign test: seeds where the method is better / worse and the exact "
            "two-sided p. Verdict: *holds* when the t interval is below 0 and the sign test has p < 0.05, *does "
            "not hold* when the same is true the other way round or when the interval rules out a gain as large "
            "as the paper's smallest (relative to the baseline's FID), else *inconclusive*.", "",
            "| comparison | paper (FID, baseline → method) | kimg | fakes | seeds | FID baseline → method | "
            "difference, t 95% | bootstrap 95% | sign test (better/worse) | verdict |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"] + lines + [""]


# ------------------------------------------------------------------------------------------- plots
def _ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(k for k in (1, 2, 5, 10) if k * step >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(int(math.ceil((hi - start) / step)) + 1)], step


def panel(draw, box, data, key, scale, title):
    """One line plot of ``key`` (x scale) against kimg in ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    left, bottom = x0 + 52, y1 - 30
    right, top = x1 - 10, y0 + 22
    pts = [(r["kimg"], r[key] * scale) for e in data.values() for c in e["curves"].values() for r in c]
    if not pts:
        return
    xt, _ = _ticks(0, max(p[0] for p in pts))
    yt, ystep = _ticks(min(p[1] for p in pts), max(p[1] for p in pts))
    xmax, ylo, yhi = xt[-1], yt[0], yt[-1]

    def px(x, y):
        return (left + (right - left) * x / xmax, bottom - (bottom - top) * (y - ylo) / (yhi - ylo))

    draw.text((x0 + 52, y0 + 4), title, fill=(0, 0, 0))
    for x in xt:
        a = px(x, ylo)
        draw.line([a, px(x, yhi)], fill=(230, 230, 230))
        draw.text((a[0] - 6, bottom + 4), f"{x:g}", fill=(0, 0, 0))
    for y in yt:
        a = px(0, y)
        draw.line([a, px(xmax, y)], fill=(230, 230, 230))
        draw.text((x0 + 4, a[1] - 6), f"{y:.{max(0, -math.floor(math.log10(ystep)))}f}", fill=(0, 0, 0))
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    draw.text(((left + right) // 2 - 12, bottom + 16), "kimg", fill=(0, 0, 0))
    curves = []
    for i, e in enumerate(data.values()):
        by_kimg = {}
        for c in e["curves"].values():
            for r in c:
                by_kimg.setdefault(r["kimg"], []).append(r[key] * scale)
        curves.append((COLORS[i % len(COLORS)], by_kimg, sorted(by_kimg), len(e["curves"])))
    for color, by_kimg, ks, seeds in curves:  # the seeds' ranges first, as light bands, so no line hides
        band = [px(k, max(by_kimg[k])) for k in ks] + [px(k, min(by_kimg[k])) for k in reversed(ks)]
        if seeds > 1 and len(band) >= 3:
            draw.polygon(band, fill=tuple(int(v + (255 - v) * 0.8) for v in color))
    for color, by_kimg, ks, seeds in curves:
        line = [px(k, sum(by_kimg[k]) / len(by_kimg[k])) for k in ks]
        if len(line) > 1:
            draw.line(line, fill=color, width=2)
        for p in line:
            draw.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=color)


def plot(path, grid, data):
    from PIL import Image, ImageDraw

    width, height, legend = 900, 340, 16 * ((len(data) + 2) // 3) + 10
    img = Image.new("RGB", (width, height + legend), "white")
    draw = ImageDraw.Draw(img)
    panel(draw, (0, 0, width // 2, height), data, "fid", 1.0, f"{grid['name']}: FID (mean, band = seeds' range)")
    panel(draw, (width // 2, 0, width, height), data, "kid", 1000.0, "KID x 1000")
    for i, (label, e) in enumerate(data.items()):
        x, y = 20 + (i % 3) * 290, height + 4 + 16 * (i // 3)
        draw.rectangle([x, y + 3, x + 18, y + 9], fill=COLORS[i % len(COLORS)])
        draw.text((x + 24, y), f"{label} ({len(e['curves'])} seed{'s' * (len(e['curves']) != 1)})", fill=(0, 0, 0))
    img.save(path)


def best_samples(root, out, grid, data):
    """Copies the sample grid of the run with the lowest FID (at its table kimg) to <out>/<grid>_best.png."""
    cands = [(r["fid"], label, r) for label, e in data.items() for r in e["final"]]
    if not cands:
        return None
    fid, label, r = min(cands, key=lambda c: c[0])
    samples = os.path.join(root, "runs", r["run"], "samples")
    names = sorted(n for n in os.listdir(samples) if n.startswith("fakes")) if os.path.isdir(samples) else []
    want = [n for n in names if float(n[5:-4]) <= r["kimg"] + 1e-9]
    what = f"Best run of `{grid['name']}`: {label}, seed {r['seed']}, FID {fid:.1f} at {r['kimg']:g} kimg"
    dst = os.path.join(out, f"{grid['name']}_best.png")
    if not want:  # results carried over from another machine: the run directory is not here
        return None if not os.path.exists(dst) else \
            f"{what}; its samples are not under {root}/runs (the run directory is not on this machine), so " \
            f"`{os.path.basename(dst)}` was left as an earlier report wrote it."
    shutil.copyfile(os.path.join(samples, want[-1]), dst)
    return f"{what} (`{os.path.basename(dst)}`, EMA generator, fixed latents)."


def report(root, out, grid_names, feature_net, at_kimg=None, notes=None, md="results.md"):
    rows = common.read_results(root)
    os.makedirs(out, exist_ok=True)
    lines = ["# Results", ""]
    if notes:
        with open(notes) as f:
            lines += [f.read().strip(), ""]
    lines += [f"Tables generated by `python -m experiments.report` from `{common.RESULTS}` ({len(rows)} evaluations; "
              f"features: {feature_net}).", ""]
    lines += comparisons(grid_names, rows, feature_net)
    written = []
    for name in grid_names:
        grid = common.load_grid(name)
        data = collect(grid, rows, feature_net)
        if not data:
            continue
        points = set(grid["eval_kimg"]) | {float(grid["kimg"])}
        ats = [float(a) for a in at_kimg or () if float(a) in points] or [None]  # only the grid's own points
        for i, at in enumerate(ats):
            at_data = data if at is None else collect(grid, rows, feature_net, at)
            lines += table(grid, at_data, heading=i == 0) + [""]
        final = grid["metrics"].get("final_num_fakes")
        final_data = collect(grid, rows, feature_net, float(grid["kimg"]), num_fakes=final) if final else {}
        if any(e["final"] for e in final_data.values()):
            lines += [f"At the budget with {final} fakes (the first {grid['metrics']['num_fakes']} of them are the "
                      "rows above):", ""] + table(grid, final_data, heading=False) + [""]
        if any(e["curves"] for e in data.values()):
            plot(os.path.join(out, f"{grid['name']}.png"), grid, data)
            lines += [f"![{grid['name']}]({grid['name']}.png)", ""]
            best = best_samples(root, out, grid, data)
            if best:
                lines += [best, "", f"![best of {grid['name']}]({grid['name']}_best.png)", ""]
        written.append(grid["name"])
    with open(os.path.join(out, md), "w") as f:
        f.write("\n".join(lines))
    copy = os.path.join(out, os.path.splitext(md)[0] + ".jsonl")
    if os.path.abspath(copy) != os.path.abspath(os.path.join(root, common.RESULTS)) and \
            os.path.exists(os.path.join(root, common.RESULTS)):
        shutil.copyfile(os.path.join(root, common.RESULTS), copy)
    return written


def main(argv):
    if len(argv) > 1:
        return fail(f"unexpected arguments {argv[1:]}: pass options as --flag=value")
    try:
        if not _ROOT.value:
            raise common.GridError("--root is required: the directory experiments/run.py wrote results.jsonl to")
        if not os.path.exists(os.path.join(_ROOT.value, common.RESULTS)):
            raise common.GridError(f"{os.path.join(_ROOT.value, common.RESULTS)} not found: run experiments/run.py "
                                   f"--root={_ROOT.value} first")
        names = _GRIDS.value or common.grid_names()
        if not _MD.value.endswith(".md") or os.sep in _MD.value:
            raise common.GridError(f"--md={_MD.value}: give a file name ending in .md (it is written in --out)")
        written = report(_ROOT.value, _OUT.value or _ROOT.value, names, _FEATURE_NET.value, _AT_KIMG.value,
                         _NOTES.value, _MD.value)
        out = os.path.join(_OUT.value or _ROOT.value, _MD.value)
        print(f"wrote {out}: {', '.join(written) or 'no grid had results'}")
    except (common.GridError, OSError) as e:
        return fail(e)
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)

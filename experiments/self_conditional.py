"""gen_acc of ContraD's self-conditional sampling against unconditional sampling (issue 26 item 5).

    python -m experiments.self_conditional --workdir=runs/demo_contrad --num=50 --steps=200

For each class c, ``--num`` samples are drawn for c (generate_main's --self_conditional, cDDLS or rejection) and a
classifier trained on real images (the ``gen_acc`` metric's, keras_attngan.metrics.conditional) judges them:
gen_acc(c) = the fraction it puts in c. The unconditional baseline asks the same judge about ``--num`` * classes
plain samples: "asked" for c, an unconditional G is right as often as the judge puts its samples in c (on average
over classes 1 / classes). Prints one line per class and the means; appends them as JSON to ``--out``.
"""

import argparse
import json
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--num", type=int, default=50, help="samples per class")
    p.add_argument("--method", default="cddls", choices=["cddls", "rejection"])
    p.add_argument("--steps", type=int, default=1000, help="cddls: Langevin steps (the authors' 1000)")
    p.add_argument("--judge", default="gen_acc5k", help="the gen_acc metric whose real-data classifier judges")
    p.add_argument("--out", default=None, help="a .jsonl file to append the result to")
    args = p.parse_args()

    from keras_attngan.generation import self_conditional as sc
    from keras_attngan.metrics import classifier as clf
    from keras_attngan.metrics.conditional import real_classifier
    from keras_attngan.metrics.evaluate import Evaluator
    from keras_attngan.metrics.registry import parse_metric
    from keras_attngan.training.restore import restore_run
    from keras_attngan.utils.images import to_uint8

    config, trainer, path, step = restore_run(args.workdir, args.checkpoint)
    G, D = trainer.g_ema, trainer.discriminator
    evaluator = Evaluator(config, G, D, cache_dir=f"{args.workdir}/metric_cache")
    spec = parse_metric(args.judge)
    k = len(sc.class_names(config)) or 10
    judge, trained_on = real_classifier(evaluator, spec, k, spec.num_reals, exact=False)
    factor = clf.pool_factor(config.model.resolution)

    def judged(images):
        return clf.predict(judge, [clf.pool_images(images, factor)])

    head = sc.fit_head(config, D, path=sc.default_head_path(args.workdir, path))
    t0, per_class = time.time(), []
    for c in range(k):
        s = sc.self_conditional_samples(G, D, head, c, args.num, seed=1000 * c, method=args.method, steps=args.steps)
        acc = float(np.mean(judged(s.images) == c))
        per_class.append(acc)
        print(f"class {c}: self-conditional gen_acc {acc:.3f} (head agrees on {np.mean(s.classes == c):.0%}) "
              f"{time.time() - t0:.0f}s", flush=True)
    z = np.random.RandomState(0).randn(args.num * k, G.z_dim).astype(np.float32)
    plain = np.concatenate([to_uint8(G(z[i:i + 256], noise_mode="const").numpy()) for i in range(0, len(z), 256)])
    uncond = np.bincount(judged(plain), minlength=k)[:k] / len(plain)
    row = {"workdir": args.workdir, "checkpoint": path, "step": int(step), "method": args.method,
           "steps": args.steps, "num_per_class": args.num, "judge": args.judge, "judge_trained_on": int(trained_on),
           "self_conditional_gen_acc": float(np.mean(per_class)), "per_class": [round(a, 4) for a in per_class],
           "unconditional_gen_acc": float(np.mean(uncond)),
           "unconditional_per_class": [round(float(a), 4) for a in uncond],
           "seconds": round(time.time() - t0, 1)}
    print(f"self-conditional gen_acc {row['self_conditional_gen_acc']:.3f} vs unconditional "
          f"{row['unconditional_gen_acc']:.3f} ({args.method}, {args.num} per class)", flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

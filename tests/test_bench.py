"""The benchmark scripts of the data issue run (their figures are measured by running them, never here):
bench/gpu_check.sh --tiny on CPU, and bench/input_pipeline.py on a small count."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_check_tiny_prints_every_figure(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run(["bash", "bench/gpu_check.sh", "--tiny", f"--workdir={tmp_path}"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for precision, xla in (("mixed_bfloat16", "on"),):  # --tiny: one of the four variants (the same loop)
        assert re.search(rf"config E 8x8 batch 4 {precision} xla {xla}: [\d.]+ sec/kimg", r.stdout), r.stdout
    assert re.search(r"input pipeline from records at 8x8x3: \d+ img/s; the fastest step above consumes", r.stdout)
    # .ci/run installs the Inception weights: there the FID figure must be printed.
    assert re.search(r"FID Inception features: \d+ img/s", r.stdout) or (
        not os.environ.get("CI") and "no Inception weights" in r.stdout), r.stdout


def test_input_pipeline_bench_prints_its_table(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench.input_pipeline", "--sizes=16", "--count=100", "--seconds=0.2",
                        "--tick=false", "--nopeak", f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for label in ("folder of PNGs", "folder of JPGs", "dataset_tool records, --encoding=png",
                  "dataset_tool records, --encoding=raw"):
        assert re.search(rf"\| 16x16x1 \| {label}[^|]* \| \d+ \| \d+ \|", r.stdout), r.stdout

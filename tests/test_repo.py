"""Repository invariants: the README's two set-up commands and CI stay in sync; configs all load."""

import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_commands():
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block and text.index("```bash") < 40, "README must begin with the set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_begins_with_two_commands_and_ci_runs_the_test_one():
    train, test = readme_commands()
    assert "train_main.py --config=configs/demo.py" in train
    assert "pytest" in test
    assert test in open(os.path.join(ROOT, ".ci", "run")).read()


def test_every_config_file_resolves():
    """Every config loads and validates (in this process: fast), and train_main resolves one end to end."""
    import importlib

    from keras_attngan.config import validate

    for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.py"))):
        name = os.path.basename(path)[:-3]
        if name != "__init__":
            validate(importlib.import_module(f"configs.{name}").get_config())
    r = subprocess.run([sys.executable, "train_main.py", "--config=configs/sagan_fashion_mnist.py", "--dry_run"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 0, r.stderr[-2000:]

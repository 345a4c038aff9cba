"""Makes the repository importable in tests and keeps TF's C++ logging quiet."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

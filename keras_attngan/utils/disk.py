"""Recognising a full disk in the errors of Python and TensorFlow writes (run files, checkpoints, datasets)."""

import errno


def is_disk_full(error):
    """Whether a failed write failed for lack of space (ENOSPC; TensorFlow reports it as a
    ResourceExhaustedError whose message ends in the OS's text)."""
    return (getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error)
            or "ENOSPC" in str(error))

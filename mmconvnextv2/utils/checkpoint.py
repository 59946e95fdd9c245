"""Checkpoint files: state dicts read without running code, checkpoints written atomically.

:func:`load_source` reads the state dict of any supported checkpoint file weights-only;
:func:`save_checkpoint` writes one whole or not at all.

Under torch >= 2.6 ``torch.load`` is weights-only, and mmengine writes numpy arrays, numpy scalars
and its own ``HistoryBuffer`` into a checkpoint's ``meta`` and ``message_hub`` entries, which the
weights-only unpickler refuses. Rather than turn weights-only loading off, the few types that
mmengine itself writes are allow-listed (:func:`allow_mmengine_checkpoint_types`).

``HistoryBuffer`` also pickles its statistics methods as ``getattr(HistoryBuffer, 'min')`` and so
on. Allowing the builtin ``getattr`` would open every attribute of every allowed class to the file;
instead a restricted stand-in is registered under that name, which resolves only those methods.
"""
import argparse
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .atomic_write import atomic_write

StateDict = dict[str, torch.Tensor]
TORCH_SUFFIXES = ('.pth', '.pt', '.bin')
SAFETENSORS_SUFFIX = '.safetensors'
# How files written by torch.save begin: a zip archive (torch >= 1.6) or, in the legacy format, the
# pickled magic number. Any other file is no checkpoint, whatever the unpickler makes of it.
_TORCH_ZIP_HEADER = b'PK\x03\x04'
_TORCH_LEGACY_HEADER = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[:-1]
# Keys named in an error message before the rest is counted.
_MAX_LISTED = 8


def _numpy_checkpoint_types() -> list[type]:
    """numpy types that appear in pickled arrays and scalars: reconstructors and dtype classes."""
    types: list[type] = [np.ndarray, np.dtype, np._core.multiarray._reconstruct,
                         np._core.multiarray.scalar]
    types += [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
        'float16', 'float32', 'float64')]
    return types


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
    """Allow-lists, for weights-only ``torch.load``, the non-tensor types mmengine checkpoints hold.

    Idempotent. Only plain data containers are added; no callable that could run code on load.
    """
    torch.serialization.add_safe_globals([
        HistoryBuffer, *_numpy_checkpoint_types(), (_history_buffer_getattr, 'builtins.getattr')])


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
        # The official training scripts store their argparse.Namespace under 'args'; it is a plain
        # attribute container, so allowing it keeps the load weights-only.
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f'{str(path)!r} holds objects that weights-only loading refuses ({err}). Re-save its '
            'state dict alone, in an environment you trust: '
            "torch.save(torch.load(src, weights_only=False)['model'], dst).") from err
    # torch reports a cut-off zip archive as a RuntimeError, a cut-off legacy file as EOFError.
    except (RuntimeError, EOFError) as err:
        raise ValueError(f'{str(path)!r} is truncated or corrupt: torch cannot read it ({err}). '
                         'Copy or download it again.') from err
    return _unwrap(checkpoint, path)


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


def _unwrap(checkpoint: object, path: Path) -> StateDict:
    """The state dict inside a loaded checkpoint object."""
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

"""Saving checkpoints atomically, and loading mmengine's under torch >= 2.6 (weights-only).

mmengine writes numpy arrays, numpy scalars and its own ``HistoryBuffer`` into a checkpoint's
``meta`` and ``message_hub`` entries, which the weights-only unpickler refuses. Rather than turn
weights-only loading off, the few types that mmengine itself writes are allow-listed.

``HistoryBuffer`` also pickles its statistics methods as ``getattr(HistoryBuffer, 'min')`` and so
on. Allowing the builtin ``getattr`` would open every attribute of every allowed class to the file;
instead a restricted stand-in is registered under that name, which resolves only those methods.
"""
import os
import pickle
from pathlib import Path
from typing import Any, List, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

from .atomic_write import atomic_write


def _numpy_checkpoint_types() -> List[type]:
    """numpy types that appear in pickled arrays and scalars: reconstructors and dtype classes."""
    types: List[type] = [np.ndarray, np.dtype, np._core.multiarray._reconstruct,
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


def save_checkpoint(checkpoint: dict, path: Union[str, Path]) -> None:
    """Writes ``checkpoint`` with ``torch.save``, atomically and durably (:func:`atomic_write`).

    ``path`` then holds either its old content or the whole new checkpoint, never a part of it.
    """
    atomic_write(os.fspath(path), lambda file: torch.save(checkpoint, file))

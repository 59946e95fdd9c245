"""Model-zoo files: a run's weights in float16, with their provenance, and their sha256.

The zoo of the bundled data is committed to the repository, so each file must stay small: only
the weights a user loads (an FCMAE run's encoder; a trained model's weights without optimiser
state), floating tensors in float16. Loading casts them back to the model's dtype.
"""
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from mmconvnextv2.utils.checkpoint import load_weights_only, save_checkpoint, state_dict_of

# The zoo's size limit per file: 16 MB, decimal, as issue 14 counts it.
ZOO_MAX_BYTES = 16_000_000


@dataclass(frozen=True)
class ZooFile:
    """A written zoo file.

    Attributes:
        path: Where it is.
        sha256: The hex digest of its bytes.
        size_bytes: Its size.
        num_tensors: Tensors in its state dict.
    """
    path: str
    sha256: str
    size_bytes: int
    num_tensors: int


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for piece in iter(lambda: f.read(2**20), b''):
            digest.update(piece)
    return digest.hexdigest()


def half_precision(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float16 (contiguous, so no storage is shared); others unchanged."""
    return {key: value.half().contiguous() if value.is_floating_point() else value
            for key, value in state_dict.items()}


def publish_to_zoo(src: str | Path, dst: str | Path, encoder_only: bool,
                   meta: dict[str, object]) -> ZooFile:
    """Writes the weights of a run's checkpoint to ``dst`` in float16, atomically.

    Args:
        src: The run's checkpoint (mmengine's, with ``state_dict``).
        dst: The zoo file.
        encoder_only: Keep the encoder of our FCMAE run (its ``backbone.*`` weights, V2 or
            V1-style) and drop the decoder and the algorithm's state; otherwise keep the whole
            ``state_dict`` (for a model trained with EMA, mmengine's checkpoint holds the averaged
            weights there).
        meta: Provenance stored in the file: the config, the training command, the commit. The
            run's ``dataset_meta`` (its classes and palette, which mmengine's runner writes and
            the inferencers draw with) is kept beside it.

    Returns:
        The written file, with its sha256.

    Raises:
        ValueError: If ``encoder_only`` finds no ``backbone.*`` weights, or the result exceeds
            :data:`ZOO_MAX_BYTES`; nothing is written then.
    """
    checkpoint = load_weights_only(src)
    state = state_dict_of(checkpoint, src)
    run_meta = checkpoint.get('meta') or {}
    if 'dataset_meta' in run_meta:
        meta = {**meta, 'dataset_meta': run_meta['dataset_meta']}
    if encoder_only:
        state = {key: value for key, value in state.items() if key.startswith('backbone.')}
        if not state:
            raise ValueError(f'{src} holds no backbone.* weights: is it a checkpoint of an '
                             'FCMAE run of ours?')
    state = half_precision(state)
    size = sum(value.numel() * value.element_size() for value in state.values())
    if size > ZOO_MAX_BYTES:
        raise ValueError(f'{src} holds {size / 1e6:.2f} MB of weights in float16, more than '
                         f'the zoo\'s {ZOO_MAX_BYTES / 1e6:.0f} MB per file: train a smaller '
                         'model or keep the file out of the repository.')
    save_checkpoint(dict(state_dict=state, meta=dict(meta)), dst)
    return ZooFile(path=str(dst), sha256=file_sha256(dst), size_bytes=os.path.getsize(dst),
                   num_tensors=len(state))

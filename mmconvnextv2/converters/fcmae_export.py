"""The encoder of an FCMAE checkpoint, written as a backbone checkpoint."""
from pathlib import Path

from mmconvnextv2.utils.checkpoint import key_listing, load_source, save_checkpoint

from .conversion import ConversionResult, convert_state_dict

# Buffers of our FCMAE algorithm itself: the seeded masks' step count (FCMAE(mask_seed=...)).
_FCMAE_STATE = ('mask_step', )


def _is_fcmae_only(key: str) -> bool:
    """A key of our FCMAE run that is no encoder weight: the decoder or the algorithm's state."""
    return key.startswith('neck.') or key in _FCMAE_STATE


def export_fcmae_encoder(src: str | Path, dst: str | Path) -> ConversionResult:
    """Writes the encoder of an FCMAE checkpoint as a backbone checkpoint (``backbone.*`` only).

    Args:
        src: Our FCMAE run's checkpoint (``backbone.*`` encoder, ``neck.*`` decoder, with
            ``mask_seed`` the ``mask_step`` buffer) or an official ``*_fcmae.pt``.
        dst: The output file; written atomically.

    Returns:
        The conversion, with the decoder keys and ``mask_step`` under ``dropped``.

    Raises:
        ValueError: If ``src`` holds keys that are neither encoder nor decoder, or a classifier.
    """
    result = convert_state_dict(load_source(src))
    fcmae_only = [key for key in result.unmatched if _is_fcmae_only(key)]
    unexpected = [key for key in result.unmatched if not _is_fcmae_only(key)]
    head = [key for key in result.state_dict if not key.startswith('backbone.')]
    if unexpected or head:
        raise ValueError(f'{src} is not an FCMAE checkpoint: it holds '
                         f'{key_listing(unexpected + head)}. Convert classifiers with '
                         'tools/model_converters/convnextv2_to_mm.py.')
    result.dropped += fcmae_only
    meta = dict(converted_from=result.format, source=str(src), exported='fcmae encoder')
    save_checkpoint(dict(state_dict=result.state_dict, meta=meta), dst)
    return result

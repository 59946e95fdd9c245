"""Conversion of a state dict or checkpoint file of any supported format into our layout.

The result is a classifier state dict with ``backbone.`` and ``head.fc.`` keys (no head keys
when the source has none), as built by mmpretrain's ``ImageClassifier`` around
:class:`~mmconvnextv2.models.ConvNeXtV2` and :class:`~mmconvnextv2.models.ConvNeXtV2ClsHead`.
"""
from dataclasses import dataclass, field
from pathlib import Path

from mmconvnextv2.utils.arch_settings import Arch
from mmconvnextv2.utils.checkpoint import StateDict, key_listing, load_source, save_checkpoint

from .arch import check_against_arch, infer_arch
from .formats import FORMATS, detect_format
from .key_mapping import densify_official, refuse_layer_scale, rename_keys


@dataclass
class ConversionResult:
    """A converted state dict and what was learnt on the way.

    Attributes:
        state_dict: Our classifier keys (``backbone.*``, and ``head.fc.*`` if the source has a
            classifier).
        format: The source format, one of :data:`~mmconvnextv2.converters.FORMATS`.
        arch: The name in :data:`~mmconvnextv2.utils.arch_settings.ARCH_SETTINGS` matching the
            depths and channels, or None for a custom size.
        depths: Blocks per stage found in the source.
        channels: Channels per stage found in the source.
        unmatched: Source keys that map to nothing of ours; they are not in ``state_dict``.
        dropped: FCMAE decoder keys, expected in a pre-training checkpoint and left out.
        notes: Remarks on behaviour that the conversion cannot carry over.
    """

    state_dict: StateDict
    format: str
    arch: str | None
    depths: list[int]
    channels: list[int]
    unmatched: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def convert_state_dict(state_dict: StateDict, fmt: str = 'auto',
                       arch: Arch | None = None) -> ConversionResult:
    """Converts a state dict of one of :data:`FORMATS` to our classifier layout.

    Args:
        state_dict: The source tensors, already unwrapped (see :func:`load_source`).
        fmt: One of :data:`FORMATS`, or ``'auto'`` to detect it.
        arch: If given, our arch (name or depths/channels dict) that the result must fit.

    Returns:
        The converted state dict with the detected format, arch and any unmatched keys.

    Raises:
        ValueError: For an unknown format, layer-scale (ConvNeXt V1) parameters, an incomplete
            result, or a mismatch with ``arch``.
    """
    if fmt == 'auto':
        fmt = detect_format(state_dict)
    elif fmt not in FORMATS:
        raise ValueError(f"Unknown checkpoint format {fmt!r}; use 'auto' or one of {FORMATS}.")
    refuse_layer_scale(state_dict)
    dropped: list[str] = []
    if fmt in ('official', 'fcmae'):
        state_dict, dropped = densify_official(state_dict)
    converted, unmatched = rename_keys(state_dict, fmt)
    if not converted:
        raise ValueError(f'No key of the checkpoint matches the {fmt!r} layout; keys seen: '
                         f'{key_listing(unmatched)}.')
    name, depths, channels = infer_arch(converted)
    if arch is not None:
        check_against_arch(converted, arch)
    notes = []
    if fmt == 'hf':
        notes.append('HF ConvNextV2 normalises the pooled features with config.layer_norm_eps '
                     '(1e-12 by default), ours with 1e-6: logits may differ by about 1e-6.')
    return ConversionResult(converted, fmt, name, depths, channels, unmatched, dropped, notes)


def convert_checkpoint(src: str | Path, dst: str | Path, fmt: str = 'auto',
                       arch: Arch | None = None) -> ConversionResult:
    """Converts the checkpoint file ``src`` and writes an mmengine checkpoint to ``dst``.

    The output is ``{'state_dict': ..., 'meta': {'converted_from': format, 'source': src}}``.

    Args:
        src: A ``.pth``, ``.pt``, ``.bin`` or ``.safetensors`` file of one of :data:`FORMATS`.
        dst: The output file; written atomically.
        fmt: The source format, or ``'auto'``.
        arch: If given, our arch that the result must fit.

    Returns:
        See :func:`convert_state_dict`.
    """
    result = convert_state_dict(load_source(src), fmt, arch)
    meta = dict(converted_from=result.format, source=str(src))
    save_checkpoint(dict(state_dict=result.state_dict, meta=meta), dst)
    return result

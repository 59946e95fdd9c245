"""The checkpoint layouts we convert from, and telling them apart by their key names.

Supported source formats (``FORMATS``):

* ``official``: fine-tuned checkpoints of facebookresearch/ConvNeXt-V2, ``{'model': state_dict}``
  with ``downsample_layers.i.j``, ``stages.i.j.{dwconv, norm, pwconv1, grn, pwconv2}``, ``norm``
  and ``head``; GRN parameters shaped (1, 1, 1, C).
* ``fcmae``: FCMAE pre-training checkpoints (``*_fcmae.pt``): the encoder only, with no final norm
  and no head, possibly prefixed ``encoder.`` and possibly in the MinkowskiEngine layout of the
  sparse encoder (``.kernel`` convolutions, ``.ln.`` / ``.linear.`` wrappers, (1, C) biases and
  GRN parameters). The decoder keys (``decoder``, ``mask_token``, ``proj``, ``pred``) are dropped
  and reported.
* ``timm``: ``timm`` ``convnextv2_*`` state dicts, with or without the classifier.
* ``hf``: HF transformers ``ConvNextV2ForImageClassification`` (``convnextv2.*`` and
  ``classifier.*``) or ``ConvNextV2Model`` state dicts, ``.bin`` or ``.safetensors``.
  HF applies its final LayerNorm with ``config.layer_norm_eps``, 1e-12 by default, where ours
  (like the official model) uses 1e-6; the logits then differ by about 1e-6 relative.
* ``mmpretrain``: mmpretrain ``ConvNeXt(use_grn=True, layer_scale_init_value=0.)`` classifiers.
* ``mmconvnextv2``: our own layout, passed through.
"""
import re

from mmconvnextv2.utils.checkpoint import StateDict, key_listing

from .key_mapping import FCMAE_DECODER_MODULES, SPARSE_WRAPPERS

FORMATS = ('official', 'fcmae', 'timm', 'hf', 'mmpretrain', 'mmconvnextv2')

# One key that only the format has, checked in this order (ours and mmpretrain's carry
# ``backbone.``, so they must be tried before the bare official names).
_SIGNATURES: list[tuple[str, re.Pattern[str]]] = [
    ('mmconvnextv2', re.compile(r'backbone\.stages\.\d+\.\d+\.dwconv\.weight')),
    ('mmpretrain', re.compile(r'backbone\.stages\.\d+\.\d+\.depthwise_conv\.weight')),
    ('timm', re.compile(r'stages\.\d+\.blocks\.\d+\.conv_dw\.weight')),
    ('hf', re.compile(r'(?:convnextv2\.)?encoder\.stages\.\d+\.layers\.\d+\.dwconv\.weight')),
    ('official', re.compile(r'(?:encoder\.)?stages\.\d+\.\d+\.dwconv\.(?:weight|kernel)')),
]


def detect_format(state_dict: StateDict) -> str:
    """Names the layout of a state dict, one of :data:`FORMATS`.

    Raises:
        ValueError: If no known layout matches, listing some of the keys seen.
    """
    for fmt, signature in _SIGNATURES:
        if any(signature.fullmatch(key) for key in state_dict):
            return 'fcmae' if fmt == 'official' and _looks_like_fcmae(state_dict) else fmt
    raise ValueError(
        f'Cannot tell the checkpoint format from its {len(state_dict)} keys, e.g. '
        f'{key_listing(list(state_dict))}. Known layouts: official/FCMAE (stages.i.j.dwconv.*), '
        'timm (stages.i.blocks.j.conv_dw.*), HF (encoder.stages.i.layers.j.dwconv.*), mmpretrain '
        '(backbone.stages.i.j.depthwise_conv.*) and mmconvnextv2 (backbone.stages.i.j.dwconv.*). '
        'Is this a ConvNeXt V2 checkpoint? If it is in one of these layouts, pass the format '
        'explicitly (fmt=... or --format).')


def _looks_like_fcmae(state_dict: StateDict) -> bool:
    """An official-layout encoder: prefixed, sparse, with decoder keys or without norm and head."""
    has_classifier = 'head.weight' in state_dict or 'norm.weight' in state_dict
    return not has_classifier or any(
        key.startswith('encoder.') or key.split('.')[0] in FCMAE_DECODER_MODULES
        or key.endswith('.kernel') or SPARSE_WRAPPERS.search(key) for key in state_dict)

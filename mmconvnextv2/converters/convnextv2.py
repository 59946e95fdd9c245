"""Conversion of ConvNeXt V2 checkpoints from other code bases into the mmconvnextv2 layout.

Supported source formats (``FORMATS``), detected from the key names:

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

The result is a classifier state dict with ``backbone.`` and ``head.fc.`` keys (no head keys
when the source has none), as built by mmpretrain's ``ImageClassifier`` around
:class:`~mmconvnextv2.models.ConvNeXtV2` and :class:`~mmconvnextv2.models.ConvNeXtV2ClsHead`.
"""
import argparse
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from mmconvnextv2.models.backbones.convnextv2 import ConvNeXtV2
from mmconvnextv2.utils.checkpoint import save_checkpoint

FORMATS = ('official', 'fcmae', 'timm', 'hf', 'mmpretrain', 'mmconvnextv2')
TORCH_SUFFIXES = ('.pth', '.pt', '.bin')
SAFETENSORS_SUFFIX = '.safetensors'

StateDict = Dict[str, torch.Tensor]
Arch = Union[str, Dict[str, List[int]]]

# (pattern on the source key, template of our key), per format; the first full match wins.
_RULE_SPECS: Dict[str, List[Tuple[str, str]]] = {
    'official': [
        (r'downsample_layers\.(\d+)\.([01])\.(weight|bias)',
         r'backbone.downsample_layers.\1.\2.\3'),
        (r'stages\.(\d+)\.(\d+)\.(dwconv|norm|pwconv1|pwconv2)\.(weight|bias)',
         r'backbone.stages.\1.\2.\3.\4'),
        (r'stages\.(\d+)\.(\d+)\.grn\.(gamma|beta)', r'backbone.stages.\1.\2.grn.\3'),
        (r'norm\.(weight|bias)', r'backbone.norm.\1'),
        (r'head\.(weight|bias)', r'head.fc.\1'),
    ],
    'timm': [
        (r'stem\.([01])\.(weight|bias)', r'backbone.downsample_layers.0.\1.\2'),
        (r'stages\.(\d+)\.downsample\.([01])\.(weight|bias)',
         r'backbone.downsample_layers.\1.\2.\3'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.(weight|bias)',
         r'backbone.stages.\1.\2.dwconv.\3'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.norm\.(weight|bias)', r'backbone.stages.\1.\2.norm.\3'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc([12])\.(weight|bias)',
         r'backbone.stages.\1.\2.pwconv\3.\4'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.weight', r'backbone.stages.\1.\2.grn.gamma'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.mlp\.grn\.bias', r'backbone.stages.\1.\2.grn.beta'),
        (r'head\.norm\.(weight|bias)', r'backbone.norm.\1'),
        (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
    ],
    'hf': [
        (r'(?:convnextv2\.)?embeddings\.patch_embeddings\.(weight|bias)',
         r'backbone.downsample_layers.0.0.\1'),
        (r'(?:convnextv2\.)?embeddings\.layernorm\.(weight|bias)',
         r'backbone.downsample_layers.0.1.\1'),
        (r'(?:convnextv2\.)?encoder\.stages\.(\d+)\.downsampling_layer\.([01])\.(weight|bias)',
         r'backbone.downsample_layers.\1.\2.\3'),
        (r'(?:convnextv2\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.(dwconv|pwconv1|pwconv2)\.'
         r'(weight|bias)', r'backbone.stages.\1.\2.\3.\4'),
        (r'(?:convnextv2\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.layernorm\.(weight|bias)',
         r'backbone.stages.\1.\2.norm.\3'),
        (r'(?:convnextv2\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.grn\.weight',
         r'backbone.stages.\1.\2.grn.gamma'),
        (r'(?:convnextv2\.)?encoder\.stages\.(\d+)\.layers\.(\d+)\.grn\.bias',
         r'backbone.stages.\1.\2.grn.beta'),
        (r'(?:convnextv2\.)?layernorm\.(weight|bias)', r'backbone.norm.\1'),
        (r'classifier\.(weight|bias)', r'head.fc.\1'),
    ],
    'mmpretrain': [
        (r'backbone\.downsample_layers\.(\d+)\.([01])\.(weight|bias)',
         r'backbone.downsample_layers.\1.\2.\3'),
        (r'backbone\.stages\.(\d+)\.(\d+)\.depthwise_conv\.(weight|bias)',
         r'backbone.stages.\1.\2.dwconv.\3'),
        (r'backbone\.stages\.(\d+)\.(\d+)\.norm\.(weight|bias)', r'backbone.stages.\1.\2.norm.\3'),
        (r'backbone\.stages\.(\d+)\.(\d+)\.pointwise_conv([12])\.(weight|bias)',
         r'backbone.stages.\1.\2.pwconv\3.\4'),
        (r'backbone\.stages\.(\d+)\.(\d+)\.grn\.(gamma|beta)', r'backbone.stages.\1.\2.grn.\3'),
        # mmpretrain names the norm of stage i ``norm{i}``; ours calls the last one ``norm``.
        (r'backbone\.norm3\.(weight|bias)', r'backbone.norm.\1'),
        (r'backbone\.norm([012])\.(weight|bias)', r'backbone.norm\1.\2'),
        (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
    ],
    'mmconvnextv2': [
        (r'(backbone\.downsample_layers\.\d+\.[01]\.(?:weight|bias))', r'\1'),
        (r'(backbone\.stages\.\d+\.\d+\.(?:dwconv|norm|pwconv1|pwconv2)\.(?:weight|bias))', r'\1'),
        (r'(backbone\.stages\.\d+\.\d+\.grn\.(?:gamma|beta))', r'\1'),
        (r'(backbone\.norm[012]?\.(?:weight|bias))', r'\1'),
        (r'(head\.fc\.(?:weight|bias))', r'\1'),
    ],
}
# FCMAE encoders use the official names once made dense (see _densify_official).
_RULE_SPECS['fcmae'] = _RULE_SPECS['official']
_RULES: Dict[str, List[Tuple[re.Pattern[str], str]]] = {
    fmt: [(re.compile(pattern), template) for pattern, template in specs]
    for fmt, specs in _RULE_SPECS.items()}

# One key that only the format has, checked in this order (ours and mmpretrain's carry
# ``backbone.``, so they must be tried before the bare official names).
_SIGNATURES: List[Tuple[str, re.Pattern[str]]] = [
    ('mmconvnextv2', re.compile(r'backbone\.stages\.\d+\.\d+\.dwconv\.weight')),
    ('mmpretrain', re.compile(r'backbone\.stages\.\d+\.\d+\.depthwise_conv\.weight')),
    ('timm', re.compile(r'stages\.\d+\.blocks\.\d+\.conv_dw\.weight')),
    ('hf', re.compile(r'(?:convnextv2\.)?encoder\.stages\.\d+\.layers\.\d+\.dwconv\.weight')),
    ('official', re.compile(r'(?:encoder\.)?stages\.\d+\.\d+\.dwconv\.(?:weight|kernel)')),
]
# Top-level modules of the FCMAE model that are not part of the encoder.
_FCMAE_ONLY = ('decoder', 'mask_token', 'proj', 'pred')
# Buffers of our FCMAE algorithm itself: the seeded masks' step count (FCMAE(mask_seed=...)).
_FCMAE_STATE = ('mask_step', )
# Module wrappers of the MinkowskiEngine encoder: MinkowskiLayerNorm.ln, MinkowskiLinear.linear.
_SPARSE_WRAPPERS = re.compile(r'\.(?:ln|linear)\.')
# Layer scale of ConvNeXt V1 (official/timm/mmpretrain ``gamma``, HF ``layer_scale_parameter``).
_LAYER_SCALE = re.compile(
    r'(?:^|\.)stages\.\d+\.(?:blocks\.|layers\.)?\d+\.(?:gamma|layer_scale_parameter)$')
# Our keys whose tensors are vectors even where a source stores them as (1, C) or (1, 1, 1, C).
_VECTOR_SUFFIXES = ('.bias', '.grn.gamma', '.grn.beta')
# timm's small models and mmpretrain with linear_pw_conv=False store these as 1x1 convolutions.
_PWCONV_WEIGHT = re.compile(r'\.pwconv[12]\.weight$')
_BLOCK_PARAMS = ('dwconv.weight', 'dwconv.bias', 'norm.weight', 'norm.bias', 'pwconv1.weight',
                 'pwconv1.bias', 'grn.gamma', 'grn.beta', 'pwconv2.weight', 'pwconv2.bias')
_BLOCK_KEY = re.compile(r'backbone\.stages\.(\d+)\.(\d+)\.')
_MAX_LISTED = 8
# How files written by torch.save begin: a zip archive (torch >= 1.6) or, in the legacy format, the
# pickled magic number. Any other file is no checkpoint, whatever the unpickler makes of it.
_TORCH_ZIP_HEADER = b'PK\x03\x04'
_TORCH_LEGACY_HEADER = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[:-1]


@dataclass
class ConversionResult:
    """A converted state dict and what was learnt on the way.

    Attributes:
        state_dict: Our classifier keys (``backbone.*``, and ``head.fc.*`` if the source has a
            classifier).
        format: The source format, one of :data:`FORMATS`.
        arch: The name in :attr:`ConvNeXtV2.arch_settings` matching the depths and channels, or
            None for a custom size.
        depths: Blocks per stage found in the source.
        channels: Channels per stage found in the source.
        unmatched: Source keys that map to nothing of ours; they are not in ``state_dict``.
        dropped: FCMAE decoder keys, expected in a pre-training checkpoint and left out.
        notes: Remarks on behaviour that the conversion cannot carry over.
    """

    state_dict: StateDict
    format: str
    arch: Optional[str]
    depths: List[int]
    channels: List[int]
    unmatched: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _listing(keys: Sequence[str]) -> str:
    """The first few keys, comma separated, with a count of the rest."""
    shown = ', '.join(keys[:_MAX_LISTED])
    rest = len(keys) - _MAX_LISTED
    return f'{shown} (and {rest} more)' if rest > 0 else shown


def load_source(path: Union[str, Path]) -> StateDict:
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
                         f'{_listing(not_tensors)} are not tensors.')
    return dict(checkpoint)


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
        f'{_listing(list(state_dict))}. Known layouts: official/FCMAE (stages.i.j.dwconv.*), timm '
        '(stages.i.blocks.j.conv_dw.*), HF (encoder.stages.i.layers.j.dwconv.*), mmpretrain '
        '(backbone.stages.i.j.depthwise_conv.*) and mmconvnextv2 (backbone.stages.i.j.dwconv.*). '
        'Is this a ConvNeXt V2 checkpoint? If it is in one of these layouts, pass the format '
        'explicitly (fmt=... or --format).')


def _looks_like_fcmae(state_dict: StateDict) -> bool:
    """An official-layout encoder: prefixed, sparse, with decoder keys or without norm and head."""
    has_classifier = 'head.weight' in state_dict or 'norm.weight' in state_dict
    return not has_classifier or any(
        key.startswith('encoder.') or key.split('.')[0] in _FCMAE_ONLY or key.endswith('.kernel')
        or _SPARSE_WRAPPERS.search(key) for key in state_dict)


def _refuse_layer_scale(state_dict: StateDict) -> None:
    found = [key for key in state_dict if _LAYER_SCALE.search(key)]
    if found:
        raise ValueError(
            f'The checkpoint has layer-scale parameters ({_listing(found)}), which ConvNeXt V2 '
            'does not have: it is a ConvNeXt V1 model (or an mmpretrain ConvNeXt built with '
            'layer_scale_init_value > 0) and cannot be converted to ConvNeXt V2.')


def _dense_from_sparse_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """A MinkowskiEngine kernel as a dense Conv2d weight.

    A convolution kernel is (k*k, in, out), a depthwise one (k*k, C). Offset ``b * k + a`` holds
    weight row ``a`` (height) and column ``b`` (width), the order used by the official fine-tuning
    code to load FCMAE encoders into the dense model.
    """
    size = round(kernel.shape[0] ** 0.5)
    if size * size != kernel.shape[0] or kernel.ndim not in (2, 3):
        raise ValueError(f'A sparse kernel must be (k*k, C) or (k*k, in, out) with a square k*k, '
                         f'got {tuple(kernel.shape)}.')
    if kernel.ndim == 3:
        return kernel.reshape(size, size, *kernel.shape[1:]).permute(3, 2, 1, 0).contiguous()
    return kernel.reshape(size, size, -1).permute(2, 1, 0).unsqueeze(1).contiguous()


def _densify_official(state_dict: StateDict) -> Tuple[StateDict, List[str]]:
    """Official encoder keys without ``encoder.``, decoder keys and sparse wrappers.

    Returns:
        The state dict in the dense official layout, and the dropped decoder keys.
    """
    dense: StateDict = {}
    dropped: List[str] = []
    for key, value in state_dict.items():
        if key.split('.')[0] in _FCMAE_ONLY:
            dropped.append(key)
            continue
        name = key[len('encoder.'):] if key.startswith('encoder.') else key
        name = _SPARSE_WRAPPERS.sub('.', name)
        if name.endswith('.kernel'):
            name, value = name[:-len('kernel')] + 'weight', _dense_from_sparse_kernel(value)
        if name in dense:
            raise ValueError(f'Two keys of the checkpoint map to {name!r}; one is {key!r}.')
        dense[name] = value
    return dense, dropped


def _rename(state_dict: StateDict, fmt: str) -> Tuple[StateDict, List[str]]:
    """Our keys for the source keys that a rule of ``fmt`` matches, and the unmatched keys."""
    renamed: StateDict = {}
    unmatched: List[str] = []
    for key, value in state_dict.items():
        target = _map_key(key, _RULES[fmt])
        if target is None:
            unmatched.append(key)
        elif target in renamed:
            raise ValueError(f'Two keys of the checkpoint map to {target!r}; one is {key!r}.')
        else:
            renamed[target] = _to_our_shape(target, value)
    return renamed, unmatched


def _map_key(key: str, rules: List[Tuple[re.Pattern[str], str]]) -> Optional[str]:
    for pattern, template in rules:
        match = pattern.fullmatch(key)
        if match:
            return match.expand(template)
    return None


def _to_our_shape(key: str, value: torch.Tensor) -> torch.Tensor:
    """Vectors stored as (1, ..., 1, C) become (C,); 1x1-conv MLP weights become Linear ones."""
    if key.endswith(_VECTOR_SUFFIXES) and value.ndim > 1 and value.numel() == value.shape[-1]:
        return value.reshape(-1)
    if _PWCONV_WEIGHT.search(key) and value.ndim == 4 and value.shape[2:] == (1, 1):
        return value.flatten(1)
    return value


def infer_arch(state_dict: StateDict) -> Tuple[Optional[str], List[int], List[int]]:
    """Depths and channels of a converted state dict, and the matching arch name.

    Raises:
        ValueError: If a stage, downsampling layer or block parameter is missing.
    """
    blocks: Dict[int, set] = {}
    for key in state_dict:
        match = _BLOCK_KEY.match(key)
        if match:
            blocks.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
    num_stages = ConvNeXtV2.num_stages
    depths = [max(blocks.get(i, {-1})) + 1 for i in range(num_stages)]
    expected = [f'backbone.downsample_layers.{i}.{j}.{p}'
                for i in range(num_stages) for j in (0, 1) for p in ('weight', 'bias')]
    expected += [f'backbone.stages.{i}.{j}.{p}' for i in range(num_stages)
                 for j in range(max(depths[i], 1)) for p in _BLOCK_PARAMS]
    missing = [key for key in expected if key not in state_dict]
    if missing:
        raise ValueError(
            f'The converted checkpoint is incomplete, it lacks {_listing(missing)}. A ConvNeXt V1 '
            'checkpoint has no GRN and cannot be converted; otherwise check the source format.')
    channels = [state_dict[f'backbone.stages.{i}.0.dwconv.weight'].shape[0]
                for i in range(num_stages)]
    name = next((name for name, setting in ConvNeXtV2.arch_settings.items()
                 if setting == dict(depths=depths, channels=channels)), None)
    return name, depths, channels


def check_against_arch(state_dict: StateDict, arch: Arch) -> None:
    """Checks a converted state dict against our model of ``arch``.

    Every backbone tensor must exist in the model with the same shape, every backbone tensor of
    the model must be present (the output norms excepted: FCMAE encoders have none), and the head
    must take the model's last channels.

    Raises:
        ValueError: Naming the first mismatching key with both shapes, or the missing and extra
            keys.
    """
    with torch.device('meta'):
        # All four output norms, so that mmpretrain's norm0..norm2 have a counterpart.
        model = ConvNeXtV2(arch=arch, out_indices=(0, 1, 2, 3))
    target = {f'backbone.{k}': v.shape for k, v in model.state_dict().items()}
    target['head.fc.weight'] = torch.Size([-1, model.channels[-1]])
    target['head.fc.bias'] = torch.Size([-1])
    mismatched = [k for k, v in state_dict.items() if k in target and not _fits(v.shape, target[k])]
    if mismatched:
        key = mismatched[0]
        raise ValueError(
            f'Shape mismatch with arch {arch!r} at {key}: checkpoint {tuple(state_dict[key].shape)}'
            f' vs model {tuple(target[key])} ({len(mismatched)} mismatching keys). Pass the arch '
            'of the checkpoint, or none to infer it.')
    extra = [k for k in state_dict if k.startswith('backbone.') and k not in target]
    optional = {f'backbone.{model.out_norm_name(i)}.{p}'
                for i in range(model.num_stages) for p in ('weight', 'bias')}
    missing = [k for k in target if k.startswith('backbone.') and k not in state_dict
               and k not in optional]
    if extra or missing:
        raise ValueError(
            f'The checkpoint does not fit arch {arch!r} (depths {model.depths}, channels '
            f'{model.channels}): ' + '; '.join(
                f'{what} {_listing(keys)}' for what, keys in
                (('it has the extra keys', extra), ('it lacks', missing)) if keys))


def _fits(shape: torch.Size, target: torch.Size) -> bool:
    """Equal shapes, where a target size of -1 (the head's class count) matches any size."""
    return len(shape) == len(target) and all(t in (-1, s) for s, t in zip(shape, target))


def convert_state_dict(state_dict: StateDict, fmt: str = 'auto',
                       arch: Optional[Arch] = None) -> ConversionResult:
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
    _refuse_layer_scale(state_dict)
    dropped: List[str] = []
    if fmt in ('official', 'fcmae'):
        state_dict, dropped = _densify_official(state_dict)
    converted, unmatched = _rename(state_dict, fmt)
    if not converted:
        raise ValueError(f'No key of the checkpoint matches the {fmt!r} layout; keys seen: '
                         f'{_listing(unmatched)}.')
    name, depths, channels = infer_arch(converted)
    if arch is not None:
        check_against_arch(converted, arch)
    notes = []
    if fmt == 'hf':
        notes.append('HF ConvNextV2 normalises the pooled features with config.layer_norm_eps '
                     '(1e-12 by default), ours with 1e-6: logits may differ by about 1e-6.')
    return ConversionResult(converted, fmt, name, depths, channels, unmatched, dropped, notes)


def convert_checkpoint(src: Union[str, Path], dst: Union[str, Path], fmt: str = 'auto',
                       arch: Optional[Arch] = None) -> ConversionResult:
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


def _is_fcmae_only(key: str) -> bool:
    """A key of our FCMAE run that is no encoder weight: the decoder or the algorithm's state."""
    return key.startswith('neck.') or key in _FCMAE_STATE


def export_fcmae_encoder(src: Union[str, Path], dst: Union[str, Path]) -> ConversionResult:
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
        raise ValueError(f'{src} is not an FCMAE checkpoint: it holds {_listing(unexpected + head)}'
                         '. Convert classifiers with tools/model_converters/convnextv2_to_mm.py.')
    result.dropped += fcmae_only
    meta = dict(converted_from=result.format, source=str(src), exported='fcmae encoder')
    save_checkpoint(dict(state_dict=result.state_dict, meta=meta), dst)
    return result

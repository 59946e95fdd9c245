"""Renaming the keys of each source format to ours, with the tensors reshaped to our layout."""
import re

import torch

from mmconvnextv2.utils.checkpoint import StateDict, key_listing

# (pattern on the source key, template of our key), per format; the first full match wins.
_RULE_SPECS: dict[str, list[tuple[str, str]]] = {
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
# FCMAE encoders use the official names once made dense (see densify_official).
_RULE_SPECS['fcmae'] = _RULE_SPECS['official']
_RULES: dict[str, list[tuple[re.Pattern[str], str]]] = {
    fmt: [(re.compile(pattern), template) for pattern, template in specs]
    for fmt, specs in _RULE_SPECS.items()}

# Top-level modules of the official FCMAE model that are not part of the encoder.
FCMAE_DECODER_MODULES = ('decoder', 'mask_token', 'proj', 'pred')
# Module wrappers of the MinkowskiEngine encoder: MinkowskiLayerNorm.ln, MinkowskiLinear.linear.
SPARSE_WRAPPERS = re.compile(r'\.(?:ln|linear)\.')
# Layer scale of ConvNeXt V1 (official/timm/mmpretrain ``gamma``, HF ``layer_scale_parameter``).
_LAYER_SCALE = re.compile(
    r'(?:^|\.)stages\.\d+\.(?:blocks\.|layers\.)?\d+\.(?:gamma|layer_scale_parameter)$')
# Our keys whose tensors are vectors even where a source stores them as (1, C) or (1, 1, 1, C).
_VECTOR_SUFFIXES = ('.bias', '.grn.gamma', '.grn.beta')
# timm's small models and mmpretrain with linear_pw_conv=False store these as 1x1 convolutions.
_PWCONV_WEIGHT = re.compile(r'\.pwconv[12]\.weight$')


def refuse_layer_scale(state_dict: StateDict) -> None:
    """Refuses ConvNeXt V1 checkpoints, recognised by their layer-scale parameters."""
    found = [key for key in state_dict if _LAYER_SCALE.search(key)]
    if found:
        raise ValueError(
            f'The checkpoint has layer-scale parameters ({key_listing(found)}), which ConvNeXt V2 '
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


def densify_official(state_dict: StateDict) -> tuple[StateDict, list[str]]:
    """Official encoder keys without ``encoder.``, decoder keys and sparse wrappers.

    Returns:
        The state dict in the dense official layout, and the dropped decoder keys.
    """
    dense: StateDict = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        if key.split('.')[0] in FCMAE_DECODER_MODULES:
            dropped.append(key)
            continue
        name = key[len('encoder.'):] if key.startswith('encoder.') else key
        name = SPARSE_WRAPPERS.sub('.', name)
        if name.endswith('.kernel'):
            name, value = name[:-len('kernel')] + 'weight', _dense_from_sparse_kernel(value)
        if name in dense:
            raise ValueError(f'Two keys of the checkpoint map to {name!r}; one is {key!r}.')
        dense[name] = value
    return dense, dropped


def rename_keys(state_dict: StateDict, fmt: str) -> tuple[StateDict, list[str]]:
    """Our keys for the source keys that a rule of ``fmt`` matches, and the unmatched keys."""
    renamed: StateDict = {}
    unmatched: list[str] = []
    for key, value in state_dict.items():
        target = _map_key(key, _RULES[fmt])
        if target is None:
            unmatched.append(key)
        elif target in renamed:
            raise ValueError(f'Two keys of the checkpoint map to {target!r}; one is {key!r}.')
        else:
            renamed[target] = _to_our_shape(target, value)
    return renamed, unmatched


def _map_key(key: str, rules: list[tuple[re.Pattern[str], str]]) -> str | None:
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

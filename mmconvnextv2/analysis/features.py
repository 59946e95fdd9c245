"""Models for feature analysis: built from a config, loaded from a checkpoint, hooked per block.

Works for any model with a ``backbone`` (mmpretrain classifiers and self-supervised algorithms,
our FCMAE): our ConvNeXt V2 (dense, or the FCMAE sparse encoder run on the whole image),
mmpretrain's ConvNeXt and its ViTs (supervised or MAE).
"""
import inspect
import os.path as osp
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import MODELS, DefaultScope
from torch import nn

from mmconvnextv2.models import ConvNeXtV2, SparseConvNeXtV2
from mmconvnextv2.utils.checkpoint import load_source

# Every block of a ConvNeXt (ours: ``stages.i.j``, mmpretrain's: the same) and every encoder
# layer of an mmpretrain ViT (``layers.i``).
DEFAULT_HOOK_PATTERN = r'backbone\.(stages\.\d+\.\d+|layers\.\d+)'
# The GELU output inside every ConvNeXt block (ours V1-style or V2, mmpretrain's): the 4C-channel
# MLP features, where GRN acts; (B, H, W, C), so analyse them with ``channels_last=True``.
CONVNEXT_MLP_HOOK_PATTERN = r'backbone\.stages\.\d+\.\d+\.act'
# The GRN output inside every ConvNeXt V2 block: the MLP features after GRN, what the second
# linear layer receives; (B, H, W, C) as well.
CONVNEXT_GRN_HOOK_PATTERN = r'backbone\.stages\.\d+\.\d+\.grn'


def read_config(config: str | Config) -> Config:
    """A config object, a config file, or ``<package>::<path>`` inside an installed package."""
    if not isinstance(config, str):
        return config
    if '::' in config:
        return get_config(config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'Config file {config!r} does not exist.')
    return Config.fromfile(config)


def build_model(config: str | Config, checkpoint: str | None = None,
                device: str | torch.device = 'cpu') -> nn.Module:
    """Builds ``config.model`` in eval mode with the weights of ``checkpoint``.

    Args:
        config: A config (see :func:`read_config`) with a ``model`` that has a ``backbone``; its
            ``default_scope`` decides the registry (mmpretrain when unset) and a top-level
            ``data_preprocessor`` applies to the model, as in mmengine's runner.
        checkpoint: An mmengine checkpoint (``state_dict`` with ``backbone.*`` keys; other keys,
            such as a decoder or head missing from the file, are ignored). None keeps the
            model's own random initialisation.
        device: Where the model runs.

    Returns:
        The model, in eval mode.

    Raises:
        ValueError: If the model has no backbone, or the checkpoint lacks backbone weights.
    """
    cfg = read_config(config)
    model_cfg = cfg.model.copy()
    # As mmengine's Runner does: a top-level data_preprocessor (FCMAE, MAE configs) is the model's.
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    # The config's scope for the build and the init_cfg, the caller's again afterwards.
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(model_cfg)
        if not isinstance(getattr(model, 'backbone', None), nn.Module):
            raise ValueError(f'{type(model).__name__} has no backbone to analyse.')
        if checkpoint is None:
            model.init_weights()
    if checkpoint is not None:
        load_backbone_weights(model, checkpoint)
    return model.to(device).eval()


def load_backbone_weights(model: nn.Module, checkpoint: str) -> None:
    """Loads a checkpoint into ``model``, requiring every ``backbone.*`` weight.

    Raises:
        ValueError: If backbone weights are missing: the analysis would see random features.
    """
    result = model.load_state_dict(load_source(checkpoint), strict=False)
    missing = [key for key in result.missing_keys if key.startswith('backbone.')]
    if missing:
        raise ValueError(f'{checkpoint} lacks {len(missing)} backbone weights of '
                         f'{type(model.backbone).__name__}, e.g. {missing[:3]}; is it a checkpoint '
                         'of this config (keys backbone.*)?')


def find_hook_points(model: nn.Module, pattern: str = DEFAULT_HOOK_PATTERN) -> list[str]:
    """Names of the modules matching ``pattern`` (a full-match regex), in network order.

    Raises:
        ValueError: If no module matches.
    """
    regex = re.compile(pattern)
    names = [name for name, _ in model.named_modules() if regex.fullmatch(name)]
    if not names:
        raise ValueError(f'No module of {type(model).__name__} matches the hook pattern '
                         f'{pattern!r}; list the names with model.named_modules().')
    return names


def num_extra_tokens(model: nn.Module) -> int:
    """Leading non-patch tokens of a transformer backbone (a ViT's class token); 0 otherwise."""
    return int(getattr(model.backbone, 'num_extra_tokens', 0))


def preprocess(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Normalises (B, 3, H, W) uint8 BGR images with the model's own data preprocessor."""
    return model.data_preprocessor(dict(inputs=images, data_samples=None), False)['inputs']


def backbone_forward(model: nn.Module, inputs: torch.Tensor) -> object:
    """Runs the backbone on whole images, calling its blocks as modules so hooks see them."""
    backbone = model.backbone
    if isinstance(backbone, SparseConvNeXtV2):
        # With nothing masked the sparse encoder computes the dense network; the dense forward
        # calls every block (the sparse backends call only their parts).
        return ConvNeXtV2.forward(backbone, inputs)
    if 'mask' in inspect.signature(backbone.forward).parameters:
        # mmpretrain's MAE encoders: mask=None encodes the whole image.
        return backbone(inputs, mask=None)
    return backbone(inputs)


@contextmanager
def record_outputs(model: nn.Module, names: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Collects the output of each named module at every forward, keyed by name.

    Yields:
        A dict that each forward fills (and overwrites).
    """
    modules = dict(model.named_modules())
    outputs: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            outputs[name] = output
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in names]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()

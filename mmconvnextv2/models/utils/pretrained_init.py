"""Initialise a ConvNeXt V2 backbone from a checkpoint of any supported layout.

``init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=...)`` on the backbone takes
an FCMAE checkpoint (ours, or the official ``*_fcmae.pt`` in the dense or sparse layout), a
classifier (official, timm, HF, mmpretrain or ours) or an exported encoder, converts it at load
time (:mod:`mmconvnextv2.converters`) and loads the backbone part only. The FCMAE decoder (decoder,
mask token, proj, pred) and any classifier head are left out, so the classifier's head keeps its
own fresh initialisation, as the official fine-tuning does. Unlike mmengine's ``Pretrained``,
which loads non-strictly and only logs a mismatch, a checkpoint of another size is an error.
"""

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import update_init_info
from torch import nn

from mmconvnextv2.converters import convert_state_dict
from mmconvnextv2.registry import WEIGHT_INITIALIZERS
from mmconvnextv2.utils.arch_settings import arch_name
from mmconvnextv2.utils.checkpoint import load_source

_BACKBONE = 'backbone.'
# Prefixes of the FCMAE decoder in our checkpoints (official ones are dropped by the converter).
_DECODER_PREFIXES = ('neck.',)


def _size_name(depths: list[int], channels: list[int]) -> str:
    """``'atto'`` etc. for a known size, else ``'custom size'``, with the depths and channels."""
    name = arch_name(depths, channels) or 'custom size'
    return f'{name} (depths {list(depths)}, channels {list(channels)})'


@WEIGHT_INITIALIZERS.register_module(name='ConvNeXtV2Pretrained')
class ConvNeXtV2PretrainedInit:
    """Loads the backbone weights of a ConvNeXt V2 checkpoint into a ``ConvNeXtV2`` backbone.

    Args:
        checkpoint: Path of the checkpoint file (``.pth``, ``.pt``, ``.bin``, ``.safetensors``).
        fmt: The checkpoint layout (see :data:`mmconvnextv2.converters.FORMATS`), or ``'auto'``.
    """

    def __init__(self, checkpoint: str | None, fmt: str = 'auto') -> None:
        self.checkpoint = checkpoint
        self.fmt = fmt

    def __call__(self, module: nn.Module) -> None:
        """Loads the checkpoint's backbone tensors into ``module``.

        Raises:
            ValueError: No checkpoint given; a file that is not a readable ConvNeXt V2
                checkpoint (the message names it); a checkpoint of another size than the model
                (the message names both); or one that lacks backbone tensors.
            TypeError: ``module`` is not a ConvNeXt V2 backbone.
        """
        if not self.checkpoint:
            raise ValueError(
                'ConvNeXtV2Pretrained needs a checkpoint: pass '
                '--cfg-options model.backbone.init_cfg.checkpoint=PATH (an FCMAE or classifier '
                'checkpoint), or train with a from-scratch config instead.')
        for attribute in ('depths', 'channels'):
            if not hasattr(module, attribute):
                raise TypeError(f'ConvNeXtV2Pretrained initialises ConvNeXt V2 backbones; '
                                f'{type(module).__name__} is not one. Put the init_cfg on the '
                                'backbone (model.backbone.init_cfg).')
        state_dict = load_source(self.checkpoint)
        try:
            result = convert_state_dict(state_dict, self.fmt)
        # The converter sees keys only; a config user needs to know which file they came from.
        except ValueError as err:
            raise ValueError(f'Cannot initialise from {self.checkpoint}: {err}') from err
        if (result.depths, result.channels) != (list(module.depths), list(module.channels)):
            raise ValueError(
                f'{self.checkpoint} holds ConvNeXt V2-'
                f'{_size_name(result.depths, result.channels)}, but the model is ConvNeXt V2-'
                f'{_size_name(module.depths, module.channels)}. Use the '
                "config of the checkpoint's size, or a checkpoint of the model's size.")
        self._load(module, result.state_dict)
        self._report(result.dropped, result.unmatched, result.state_dict)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=f'{type(self).__name__}: load from '
                                               f'{self.checkpoint}')

    def _load(self, module: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
        """Loads the ``backbone.*`` tensors; only output norms may be missing from them."""
        own = module.state_dict()
        # Output norms load only where the model has them; FCMAE encoders have none.
        weights = {key[len(_BACKBONE):]: value for key, value in state_dict.items()
                   if key.startswith(_BACKBONE) and key[len(_BACKBONE):] in own}
        missing = module.load_state_dict(weights, strict=False).missing_keys
        not_norms = [key for key in missing if not key.split('.')[0].startswith('norm')]
        if not_norms:
            raise ValueError(f'{self.checkpoint} lacks the backbone tensors {not_norms[:8]}.')
        print_log(f'ConvNeXtV2Pretrained: loaded {len(weights)} backbone tensors from '
                  f'{self.checkpoint}; kept the fresh initialisation of '
                  f'{", ".join(missing) or "nothing"}.', logger='current')

    def _report(self, dropped: list[str], unmatched: list[str],
                state_dict: dict[str, torch.Tensor]) -> None:
        """Logs what of the checkpoint was not loaded: decoder, head, anything else."""
        decoder = dropped + [key for key in unmatched if key.startswith(_DECODER_PREFIXES)]
        head = [key for key in state_dict if not key.startswith(_BACKBONE)]
        other = [key for key in unmatched if not key.startswith(_DECODER_PREFIXES)]
        for what, keys in (('FCMAE decoder', decoder), ('classifier head', head),
                           ('unknown', other)):
            if keys:
                print_log(f'ConvNeXtV2Pretrained: left out {len(keys)} {what} tensors '
                          f'({", ".join(sorted(keys)[:4])}{", ..." if len(keys) > 4 else ""}).',
                          logger='current')

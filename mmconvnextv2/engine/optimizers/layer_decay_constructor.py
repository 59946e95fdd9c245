"""Layer-wise learning-rate decay for any model whose backbone has ``get_layer_depth``.

Fine-tuning ConvNeXt V2 scales the learning rate of layer ``i`` by ``rate ** (L - i - 1)``: the
stem learns slowest, the head at the full rate. The layer ids come from the backbone
(:meth:`ConvNeXtV2.get_layer_depth`), so one constructor serves classifiers, detectors and
segmentors alike; parameters outside the backbone (necks, heads) get the top id.
"""
import operator

from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmconvnextv2.models.backbones.convnextv2 import LAYER_DECAY_MODES
from mmconvnextv2.models.layers import GRN, LayerNorm2d
from mmconvnextv2.registry import OPTIM_WRAPPER_CONSTRUCTORS

# Modules none of whose parameters are decayed: GRN (official issue #15) and the norms.
NO_DECAY_MODULES = (GRN, LayerNorm2d, nn.LayerNorm, nn.GroupNorm, _BatchNorm)
DEFAULT_NO_DECAY_KEYS = ('mask_token', 'cls_token', 'pos_embed')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Builds one parameter group per (layer id, decayed or not) with its lr scale.

    ``paramwise_cfg`` keys:

    * ``layer_decay_rate`` (float in (0, 1], required): the per-layer lr factor.
    * ``layer_decay_mode``: ``'single'`` (one id per block) or ``'group'`` (the official 12 groups
      for base/large/huge). Defaults to ``'single'``.
    * ``backbone``: attribute path of the module that has ``get_layer_depth``. Defaults to
      ``'backbone'``.
    * ``no_decay_keys``: name substrings whose parameters get no weight decay, besides biases,
      one-dimensional parameters and every parameter of GRN and norm layers. Defaults to
      ``('mask_token', 'cls_token', 'pos_embed')``.

    Each group carries ``lr_scale``, ``layer_id`` and ``param_names`` for inspection.

    Example::

        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=8e-4, weight_decay=0.05),
            constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: dict | None = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        known = {'layer_decay_rate', 'layer_decay_mode', 'backbone', 'no_decay_keys'}
        unknown = set(paramwise_cfg) - known
        if unknown:
            raise ValueError(f'LayerDecayOptimWrapperConstructor does not know paramwise_cfg '
                             f'keys {sorted(unknown)}; it takes {sorted(known)}.')
        if 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError('paramwise_cfg needs layer_decay_rate, e.g. 0.9.')
        self.layer_decay_rate = float(paramwise_cfg['layer_decay_rate'])
        if not 0 < self.layer_decay_rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {self.layer_decay_rate}')
        self.layer_decay_mode = paramwise_cfg.get('layer_decay_mode', 'single')
        if self.layer_decay_mode not in LAYER_DECAY_MODES:
            raise ValueError(f'layer_decay_mode must be one of {LAYER_DECAY_MODES}, got '
                             f'{self.layer_decay_mode!r}')
        self.backbone_path = paramwise_cfg.get('backbone', 'backbone')
        self.no_decay_keys = tuple(paramwise_cfg.get('no_decay_keys', DEFAULT_NO_DECAY_KEYS))
        super().__init__(optim_wrapper_cfg, paramwise_cfg=None)
        if self.base_lr is None:
            raise ValueError('Layer-wise lr decay scales the optimizer lr: set optimizer.lr.')

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if is_model_wrapper(model):
            model = model.module
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = self.param_groups(model)
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))

    def param_groups(self, model: nn.Module) -> list[dict]:
        """The parameter groups, ordered by layer id, decayed group first within a layer."""
        backbone = self._backbone(model)
        no_decay = self._no_decay_params(model)
        groups: dict[tuple[int, bool], dict] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            layer_id, num_layers = backbone.get_layer_depth(
                name, prefix=f'{self.backbone_path}.', mode=self.layer_decay_mode)
            decayed = id(param) not in no_decay and not any(k in name for k in self.no_decay_keys)
            if (layer_id, decayed) not in groups:
                scale = self.layer_decay_rate**(num_layers - layer_id - 1)
                group = dict(params=[], param_names=[], layer_id=layer_id, lr_scale=scale,
                             lr=self.base_lr * scale)
                # Decayed groups without a configured weight decay keep the optimizer default.
                if not decayed or self.base_wd is not None:
                    group['weight_decay'] = self.base_wd if decayed else 0.0
                groups[layer_id, decayed] = group
            groups[layer_id, decayed]['params'].append(param)
            groups[layer_id, decayed]['param_names'].append(name)
        ordered = [groups[key] for key in sorted(groups, key=lambda k: (k[0], not k[1]))]
        self._log(ordered)
        return ordered

    def _backbone(self, model: nn.Module) -> nn.Module:
        try:
            backbone = operator.attrgetter(self.backbone_path)(model)
        except AttributeError as error:
            raise AttributeError(
                f'{type(model).__name__} has no {self.backbone_path!r}; set paramwise_cfg.backbone '
                f'to the attribute path of the module with get_layer_depth.') from error
        if not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'Layer-wise lr decay needs a backbone with get_layer_depth(name, '
                            f'prefix, mode); {type(backbone).__name__} has none.')
        return backbone

    @staticmethod
    def _no_decay_params(model: nn.Module) -> set:
        """Ids of the parameters of GRN and norm layers, of biases and of 1-D parameters."""
        ids = set()
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                if isinstance(module, NO_DECAY_MODULES) or name == 'bias' or param.ndim <= 1:
                    ids.add(id(param))
        return ids

    def _log(self, groups: list[dict]) -> None:
        lines = [f'layer-wise lr decay: rate {self.layer_decay_rate}, mode '
                 f'{self.layer_decay_mode!r}, {len(groups)} parameter groups']
        for group in groups:
            wd = group.get('weight_decay', 'default')
            lines.append(f'  layer {group["layer_id"]:>2}  lr_scale {group["lr_scale"]:.4g}  '
                         f'wd {wd}  {len(group["params"])} tensors')
        MMLogger.get_current_instance().info('\n'.join(lines))

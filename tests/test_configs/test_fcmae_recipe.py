"""The FCMAE pre-training configs against the official main_pretrain.py (docs/recipes.md).

The official weight-decay rule is timm 0.3.2's ``add_weight_decay``: no decay for a parameter with
one dimension or a name ending in ``.bias``, decay for every other. It is evaluated here on the
official parameter shapes: our GRN keeps gamma and beta as (C,) vectors where the official sparse
and dense GRN have (1, C) and (1, 1, 1, C), so the official rule decays them.
"""
import copy
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmconvnextv2.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-*_in1k.py')))
ATTO = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_32xb128-800e_in1k.py')


def official_ndim(name: str, param: torch.Tensor) -> int:
    """The parameter's number of dimensions in the official FCMAE."""
    return 2 if '.grn.' in name else param.ndim


def official_decayed(model: torch.nn.Module) -> set[str]:
    """timm 0.3.2 add_weight_decay: decay unless 1-D or a bias."""
    return {name for name, param in model.named_parameters()
            if not (official_ndim(name, param) <= 1 or name.endswith('.bias'))}


def decayed(cfg: Config) -> tuple[set[str], torch.nn.Module]:
    """The parameters the config's optimiser decays (at its weight decay), and the model."""
    with torch.device('meta'):
        model = MODELS.build(copy.deepcopy(cfg.model))
    groups = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper)).optimizer.param_groups
    names = {id(p): name for name, p in model.named_parameters()}
    weight_decay = cfg.optim_wrapper.optimizer.weight_decay
    assert {g['weight_decay'] for g in groups} == {0.0, weight_decay}
    return {names[id(p)] for g in groups if g['weight_decay'] == weight_decay
            for p in g['params']}, model


def test_weight_decay_is_the_official_rule_but_grn():
    got, model = decayed(Config.fromfile(ATTO))
    grn = {name for name, _ in model.named_parameters() if '.grn.' in name}
    assert len(grn) == 2 * (sum(model.backbone.depths) + 1)  # encoder blocks and decoder block
    assert got == official_decayed(model) - grn
    assert 'neck.mask_token' in got  # decayed, as in the official code


def test_grn_decay_switch_gives_the_official_groups():
    cfg = Config.fromfile(ATTO)
    cfg.merge_from_dict({'optim_wrapper.paramwise_cfg.custom_keys.grn.decay_mult': 1.0})
    got, model = decayed(cfg)
    assert got == official_decayed(model)


@pytest.mark.parametrize('path', FCMAE_CONFIGS, ids=osp.basename)
def test_official_training_mechanics(path):
    cfg = Config.fromfile(path)
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32, as main_pretrain.py; --amp for fp16
    assert cfg.model.init_mode == 'default'  # docs/recipes.md: why not 'official'
    assert cfg.train_dataloader.drop_last is True
    assert cfg.auto_scale_lr == dict(base_batch_size=4096, enable=True)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.begin, warmup.end) == \
        ('mmconvnextv2.LinearWarmupLR', 0.0, 0, 40)
    epochs = cfg.train_cfg.max_epochs
    assert epochs == (1600 if '1600e' in path else 800)
    assert (cosine.begin, cosine.end, cosine.T_max, cosine.eta_min) == (40, epochs, epochs - 40, 0)

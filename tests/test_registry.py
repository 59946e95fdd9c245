import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from mmconvnextv2 import register_config_scope
from mmconvnextv2.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The FCMAE fine-tuning recipe of each size (the other recipes are in tests/test_configs).
CLASSIFIER_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs/convnextv2/convnextv2-*_32xb32_in1k.py')))


def library_registries():
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS
    return {'mmpretrain': MMPRETRAIN_MODELS, 'mmdet': MMDET_MODELS, 'mmseg': MMSEG_MODELS}


def test_scope_is_a_child_of_the_root_that_falls_back_to_mmpretrain():
    import mmconvnextv2.models  # noqa: F401
    assert MODELS.scope == 'mmconvnextv2'
    # A direct child of mmengine's root: reachable as 'mmconvnextv2.<Name>' from every scope.
    assert MODELS.parent.scope == 'mmengine'
    for name in ('ConvNeXtV2', 'ConvNeXtV2ClsHead', 'GRN'):
        assert MODELS.get(name) is not None
    # Anything of mmpretrain is reachable from our scope through the parent.
    assert MODELS.get('ImageClassifier').__module__.startswith('mmpretrain')


def test_register_all_modules_sets_default_scope():
    # In a fresh process: a default scope set here would leak into the other tests.
    code = ('import mmconvnextv2; from mmengine import DefaultScope\n'
            'mmconvnextv2.register_all_modules(init_default_scope=True)\n'
            'from mmconvnextv2.registry import MODELS\n'
            'print(DefaultScope.get_current_instance().scope_name,\n'
            '      MODELS.build(dict(type="ConvNeXtV2", arch="atto")).channels[-1])')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ['mmconvnextv2', '320']


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_every_size_builds_in_every_library_scope(scope):
    registry = library_registries()[scope]
    for path in CLASSIFIER_CONFIGS:
        cfg = Config.fromfile(path)
        # Meta tensors: the huge model builds in milliseconds and allocates nothing.
        with torch.device('meta'):
            backbone = registry.build(cfg.model.backbone)
        assert type(backbone).__name__ == 'ConvNeXtV2'
        assert backbone.channels[-1] == cfg.model.head.in_channels, path


def test_classifier_configs_cover_all_sizes_and_build():
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    sizes = [osp.basename(p).split('_')[0].split('-')[1] for p in CLASSIFIER_CONFIGS]
    assert sorted(sizes) == sorted(['atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large',
                                    'huge'])
    cfg = Config.fromfile(CLASSIFIER_CONFIGS[sizes.index('atto')])
    cfg.model.backbone.init_cfg = None  # the recipe loads an FCMAE checkpoint; here: random
    model = MMPRETRAIN_MODELS.build(cfg.model)
    model.init_weights()
    logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert logits.shape == (2, 1000)


def mmengine_finds_our_configs() -> bool:
    """Whether mmengine's lookup of ``mmconvnextv2::`` bases reaches the package's configs: not
    in a PEP 660 editable install, which leaves the distribution's folder in site-packages
    empty."""
    from mmengine.utils import get_installed_path
    return osp.isdir(osp.join(get_installed_path('mmconvnextv2'), '.mim', 'configs'))


def test_package_scope_resolves_config_bases(tmp_path):
    register_config_scope()
    if not mmengine_finds_our_configs():
        pytest.skip('mmengine looks for mmconvnextv2:: configs in the installed distribution\'s '
                    'folder, which a PEP 660 editable install (pip install -e) leaves empty')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = 'mmconvnextv2::convnextv2/convnextv2-nano_32xb32_in1k.py'\n"
                     "model = dict(head=dict(num_classes=7))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.backbone.arch == 'nano' and cfg.model.head.num_classes == 7


def test_head_init_scale_scales_the_initial_weights():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='mmconvnextv2.ConvNeXtV2ClsHead', num_classes=10,
                             in_channels=500, head_init_scale=0.001, init_std=2e-5,
                             init_cfg=None))
    head.init_weights()
    assert abs(head.fc.weight.std().item() - 2e-8) < 2e-9
    assert not head.fc.bias.any()
    before = head.fc.weight.clone()
    head.init_weights()  # a second call neither re-draws nor re-scales
    assert torch.equal(before, head.fc.weight)

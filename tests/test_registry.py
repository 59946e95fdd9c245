import ast
import glob
import os.path as osp
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import mmconvnextv2.utils
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


def run_python(code: str) -> str:
    """Runs ``code`` in a fresh process (registries and scopes start empty); its stdout."""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def registered_in_source() -> set[tuple[str, str, str]]:
    """``(registry, name, module)`` of every ``@<REGISTRY>.register_module(...)`` of a class in
    the package source."""
    found = set()
    for path in Path(REPO, 'mmconvnextv2').rglob('*.py'):
        module = '.'.join(path.relative_to(REPO).with_suffix('').parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if (isinstance(decorator, ast.Call)
                        and getattr(decorator.func, 'attr', None) == 'register_module'):
                    names = [k.value.value for k in decorator.keywords if k.arg == 'name']
                    found.add((decorator.func.value.id, names[0] if names else node.name, module))
    return found


def test_each_registry_imports_the_modules_that_register_in_it():
    import mmconvnextv2.registry as registries
    found = registered_in_source()
    assert ('PARAM_SCHEDULERS', 'LinearWarmupLR',
            'mmconvnextv2.engine.schedulers.linear_warmup_lr') in found and len(found) >= 15
    # A registry imports its locations at its first lookup (mmengine keeps them private).
    outside = [(kind, name, module) for kind, name, module in found
               if not any(module == location or module.startswith(location + '.')
                          for location in getattr(registries, kind)._locations)]
    assert not outside, f'Classes outside their registry\'s locations: {outside}'


def test_a_scoped_name_resolves_in_a_fresh_process():
    # What a config names, through mmengine's root registry: nothing of ours imported before.
    code = ('import torch\n'
            'from mmengine.registry import PARAM_SCHEDULERS\n'
            'print(PARAM_SCHEDULERS.get("mmconvnextv2.LinearWarmupLR").__name__)')
    assert run_python(code).split() == ['LinearWarmupLR']


def test_a_lookup_imports_only_the_registry_locations():
    # With our scope in MODULE2PACKAGE, a registry without locations would make mmengine call
    # mmconvnextv2.utils.register_all_modules, importing every subpackage for an optimizer.
    code = ('import sys, torch, mmconvnextv2\n'
            'mmconvnextv2.register_config_scope()\n'
            'from mmconvnextv2.registry import OPTIMIZERS\n'
            'optimizer = OPTIMIZERS.build(dict(type="AdamW", params=[torch.zeros(1)]))\n'
            'print(type(optimizer).__name__, sorted(m for m in ("mmconvnextv2.datasets",\n'
            '    "mmconvnextv2.engine", "mmconvnextv2.models") if m in sys.modules))')
    assert run_python(code).split() == ['AdamW', '[]']


def test_register_all_modules_registers_every_class():
    assert mmconvnextv2.utils.register_all_modules is mmconvnextv2.register_all_modules
    expected = sorted((kind, name) for kind, name, _ in registered_in_source())
    # module_dict holds what is registered so far; reading it imports nothing.
    code = ('import mmconvnextv2, mmconvnextv2.registry as r\n'
            'mmconvnextv2.register_all_modules(init_default_scope=False)\n'
            f'for kind, name in {expected!r}:\n'
            '    print(name in getattr(r, kind).module_dict)')
    assert run_python(code).split() == ['True'] * len(expected)


def test_register_all_modules_sets_default_scope():
    # In a fresh process: a default scope set here would leak into the other tests.
    code = ('import mmconvnextv2; from mmengine import DefaultScope\n'
            'mmconvnextv2.register_all_modules(init_default_scope=True)\n'
            'from mmconvnextv2.registry import MODELS\n'
            'print(DefaultScope.get_current_instance().scope_name,\n'
            '      MODELS.build(dict(type="ConvNeXtV2", arch="atto")).channels[-1])')
    assert run_python(code).split() == ['mmconvnextv2', '320']


def test_mmengine_hub_builds_our_models():
    # mmengine's hub calls <package>.utils.register_all_modules() before the build.
    if not mmengine_finds_our_configs():
        pytest.skip('mmengine looks for mmconvnextv2:: configs in the installed distribution\'s '
                    'folder, which a PEP 660 editable install (pip install -e) leaves empty')
    code = ('import mmconvnextv2; from mmengine.hub import get_model\n'
            'mmconvnextv2.register_config_scope()\n'
            'model = get_model("mmconvnextv2::convnextv2/convnextv2-atto_shapes.py")\n'
            'print(type(model.backbone).__name__, model.backbone.channels[-1],\n'
            '      model.head.fc.out_features)')
    assert run_python(code).split() == ['ConvNeXtV2', '320', '6']


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


def test_a_registry_without_locations_is_refused():
    from mmconvnextv2.registry import _ScopeRegistry
    with pytest.raises(ValueError, match="'metric' registry of mmconvnextv2 needs locations"):
        _ScopeRegistry('metric', MODELS.parent, MODELS, [])

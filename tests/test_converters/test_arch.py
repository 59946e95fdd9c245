"""The converters' statement of our layout matches the built model; they import no model code."""
import subprocess
import sys

import pytest
import torch

from mmconvnextv2.converters import check_against_arch, infer_arch
from mmconvnextv2.converters.arch import ANY_SIZE, classifier_shapes
from mmconvnextv2.models import ConvNeXtV2
from mmconvnextv2.utils.arch_settings import ARCH_SETTINGS, arch_name, resolve_arch

CUSTOM = dict(depths=[1, 2, 1, 3], channels=[8, 16, 24, 32])


@pytest.mark.parametrize('arch', [*ARCH_SETTINGS, CUSTOM])
def test_classifier_shapes_are_the_models(arch):
    with torch.device('meta'):
        backbone = ConvNeXtV2(arch=arch, out_indices=(0, 1, 2, 3))
    setting = resolve_arch(arch)
    shapes = classifier_shapes(setting['depths'], setting['channels'])
    assert shapes.pop('head.fc.weight') == (ANY_SIZE, backbone.channels[-1])
    assert shapes.pop('head.fc.bias') == (ANY_SIZE, )
    assert shapes == {f'backbone.{key}': tuple(value.shape)
                      for key, value in backbone.state_dict().items()}


def test_a_backbone_state_dict_gives_back_its_size():
    with torch.device('meta'):
        state_dict = {f'backbone.{k}': v for k, v in ConvNeXtV2(arch=CUSTOM).state_dict().items()}
    assert infer_arch(state_dict) == (None, CUSTOM['depths'], CUSTOM['channels'])
    check_against_arch(state_dict, CUSTOM)
    with pytest.raises(ValueError, match=r"Unknown ConvNeXtV2 arch 'giant'"):
        check_against_arch(state_dict, 'giant')


def test_arch_names_and_resolved_copies():
    assert arch_name([2, 2, 8, 2], [80, 160, 320, 640]) == 'nano'
    assert arch_name(**CUSTOM) is None
    resolved = resolve_arch('atto')
    resolved['depths'][0] = 99  # a caller's change must not reach the table
    assert ARCH_SETTINGS['atto']['depths'] == [2, 2, 6, 2]


def test_converters_import_first_and_without_the_models():
    code = ('import sys\nimport mmconvnextv2.converters\n'
            "assert not [m for m in sys.modules if m.startswith('mmconvnextv2.models')]\n"
            'import mmconvnextv2.models\n')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr

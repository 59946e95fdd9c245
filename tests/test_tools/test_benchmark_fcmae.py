import importlib.util
import os.path as osp

import torch

from mmconvnextv2.models.utils import random_patch_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'benchmark_fcmae', osp.join(REPO, 'tools/analysis/benchmark_fcmae.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gather_saves_less_activation_memory_than_dense_emulation():
    tool = load_tool()
    arch = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])
    models = tool.build_models(arch, ['dense', 'gather'], torch.device('cpu'))
    images = torch.randn(2, 3, 128, 128)
    mask = random_patch_mask(2, (4, 4), 0.75, generator=torch.Generator().manual_seed(0))
    memory = {name: tool.saved_activation_bytes(model, images, mask)
              for name, model in models.items()}
    # The image tensor alone is 393 kB; every backend saves at least the stem's input.
    assert all(value > images.numel() * 4 for value in memory.values())
    assert memory['gather'] < 0.75 * memory['dense']

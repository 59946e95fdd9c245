"""The activation memory that tools/analysis/benchmark_fcmae.py reports, and the tool itself."""
import json
import os.path as osp
import runpy
import sys

import torch

from benchmarks.encoders import build_encoders, flop_limit, saved_activation_bytes
from mmconvnextv2.models.utils import random_patch_mask

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'tools/analysis/benchmark_fcmae.py')
SMALL = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])


def test_gather_saves_less_activation_memory_than_dense_emulation():
    models = build_encoders(SMALL, ['dense', 'gather'], torch.device('cpu'))
    images = torch.randn(2, 3, 128, 128)
    mask = random_patch_mask(2, (4, 4), 0.75, generator=torch.Generator().manual_seed(0))
    memory = {name: saved_activation_bytes(model, images, mask) for name, model in models.items()}
    # The image tensor alone is 393 kB; every backend saves at least the stem's input.
    assert all(value > images.numel() * 4 for value in memory.values())
    assert memory['gather'] < 0.75 * memory['dense']


def test_one_gather_encoder_per_depthwise_mode_all_with_the_same_weights():
    models = build_encoders(SMALL, ['dense', 'gather', 'spconv'], torch.device('cpu'),
                            depthwise=('rows', 'full_map'))
    assert list(models) == ['dense', 'gather rows', 'gather full_map', 'spconv', 'full']
    assert [(model.sparse_backend, model.depthwise) for name, model in models.items()
            if name != 'full'] == [('dense', 'auto'), ('gather', 'rows'),
                                   ('gather', 'full_map'), ('spconv', 'auto')]
    weights = models['full'].state_dict()
    for model in models.values():
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, weights[key], rtol=0, atol=0)
    assert list(build_encoders(SMALL, ['gather'], torch.device('cpu'))) == ['gather', 'full']


def test_flop_limit_is_patches_over_visible_patches():
    # 224 / 32 = 7: 49 patches; the mask keeps int(49 * (1 - ratio)) of them.
    assert flop_limit(224, 0.6) == 49 / 19 and flop_limit(224, 0.75) == 49 / 12
    assert flop_limit(64, 0.75) == 4 / 1


def test_smoke_run_writes_the_summary_of_each_model(tmp_path, monkeypatch):
    out = tmp_path / 'bench.json'
    monkeypatch.setattr(sys, 'argv', [
        SCRIPT, '--archs', 'atto', '--ratios', '0.75', '--backends', 'gather',
        '--depthwise', 'rows', 'full_map', '--batch-size', '1', '--img-size', '64',
        '--repeats', '2', '--warmup', '0', '--out', str(out)])
    runpy.run_path(SCRIPT, run_name='__main__')
    report = json.loads(out.read_text())
    assert report['flop_limits'] == {'atto@0.75': 4.0}
    results = report['results']['atto@0.75']
    assert set(results) == {'gather rows', 'gather full_map', 'full'}
    for row in results.values():
        assert row['n'] == row['n_all'] == 2 and row['q1_ms'] <= row['median_ms'] <= row['q3_ms']
        assert row['activation_mb'] > 0

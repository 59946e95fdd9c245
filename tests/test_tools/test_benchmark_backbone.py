"""Smoke test of tools/analysis/benchmark_backbone.py on a tiny setting."""
import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

from benchmarks.classifiers import MODEL_NAMES, build_ours, count_flops

SCRIPT = Path(__file__).resolve().parents[2] / 'tools' / 'analysis' / 'benchmark_backbone.py'

# ConvNeXt V2-Atto: 0.55 G multiply-adds per 224x224 image (paper, Table 13); FlopCounterMode
# counts 2 FLOPs per multiply-add.
ATTO_FLOPS_224 = 2 * 0.55e9


def test_smoke_run_writes_positive_timings(tmp_path, monkeypatch):
    out = tmp_path / 'bench.json'
    monkeypatch.setattr(sys, 'argv', [
        str(SCRIPT), '--archs', 'atto', '--batch-size', '1', '--img-size', '64', '--repeats', '1',
        '--warmup', '0', '--modes', 'infer', '--matmul-size', '256', '--max-foreign', '1',
        '--out', str(out)])
    runpy.run_path(str(SCRIPT), run_name='__main__')
    payload = json.loads(out.read_text())
    assert payload['args']['archs'] == ['atto']
    assert payload['environment']['PyTorch'] == torch.__version__
    assert int(payload['environment']['threads']) == torch.get_num_threads()
    (record,) = payload['results']
    for name in MODEL_NAMES:
        (seconds,) = record['raw'][f'infer/{name}']['s']  # every sample is clean: one round
        assert seconds > 0
        assert record['summary'][f'infer/{name}']['median_ms'] > 0
        assert record['infer_roof_fraction'][name] > 0
    assert record['matmul_gflops'] > 0
    # The three implementations are the same network.
    assert len(set(record['flops'].values())) == 1
    assert len(set(record['params'].values())) == 1
    assert 'timm/ours' in payload['table']


def test_atto_flops_match_paper():
    model = build_ours('atto', channels_last=False)
    flops = count_flops(model, torch.randn(1, 3, 224, 224))
    assert flops == pytest.approx(ATTO_FLOPS_224, rel=0.05)

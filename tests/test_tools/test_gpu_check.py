"""tools/gpu_check.py on the CPU (``--device cpu --quick``), so the GPU check cannot rot unrun."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmconvnextv2.apis.gpu_check import FAIL, OK, judged

pytestmark = pytest.mark.slow  # starts real training runs

REPO = Path(__file__).resolve().parents[2]
# The rows of a CPU run: every stage, fp16 autocast skipped (the CPU trains in bf16).
EXPECTED_ROWS = {
    ('backbone', 'eager fp32'): OK, ('backbone', 'eager bf16'): OK,
    ('backbone', 'eager fp16'): 'skip', ('backbone', 'compile fp32'): OK,
    ('backbone', 'compile bf16'): OK, ('backbone', 'compile fp16'): 'skip',
    ('sparse-equivalence', 'dense'): OK, ('sparse-equivalence', 'gather'): OK,
    ('sparse-equivalence', 'spconv'): OK,
    ('fcmae', 'dense'): OK, ('fcmae', 'gather'): OK, ('fcmae', 'spconv'): OK,
    ('fcmae', 'full'): OK,
    ('finetune-amp', 'AutocastOptimWrapper bfloat16'): OK,
    ('mask-rcnn', '2 iters, test 2 scenes'): OK,
    ('upernet', '2 iters, test 2 scenes'): OK,
}
# float32 against float64 or timm's float32: roundoff (6e-8) times reductions of a few thousand
# terms; bf16 autocast: 32 unit roundoffs (2^-8) for the logits.
FP32_TOLERANCE = 1e-4
BF16_LOGITS_TOLERANCE = 32 * 2.0**-8


@pytest.fixture(scope='module')
def report(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp('gpu_check')
    out = work / 'gpu_check.json'
    run = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'gpu_check.py'), '--device', 'cpu', '--quick',
         '--out', str(out), '--work-dir', str(work)],
        env={**os.environ, 'OMP_NUM_THREADS': '1'}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert 'all rows ok or skipped' in run.stdout
    return json.loads(out.read_text())


def rows_by_case(report: dict) -> dict[tuple[str, str], dict]:
    return {(row['stage'], row['case']): row for row in report['rows']}


def test_every_row_is_there_with_its_status(report):
    rows = rows_by_case(report)
    assert {key: row['status'] for key, row in rows.items()} == EXPECTED_ROWS
    assert report['ok'] and report['device'] == 'cpu' and report['quick']
    for key, row in rows.items():
        if row['status'] == 'skip':
            assert 'CPU' in row['note'], key


def test_every_number_is_finite(report):
    for row in report['rows']:
        assert all(math.isfinite(value) for value in row['metrics'].values()), row
        assert row['status'] == 'skip' or row['metrics'], row


def test_equivalence_errors_are_within_float32_roundoff(report):
    rows = rows_by_case(report)
    for backend in ('dense', 'gather', 'spconv'):
        metrics = rows[('sparse-equivalence', backend)]['metrics']
        assert metrics['outputs_err'] <= FP32_TOLERANCE and metrics['grads_err'] <= FP32_TOLERANCE
    for mode in ('eager', 'compile'):
        fp32 = rows[('backbone', f'{mode} fp32')]['metrics']
        assert fp32['logits_err'] <= FP32_TOLERANCE and fp32['grads_err'] <= FP32_TOLERANCE
        bf16 = rows[('backbone', f'{mode} bf16')]['metrics']
        assert 0 < bf16['logits_err'] <= BF16_LOGITS_TOLERANCE


def test_downstream_metrics_are_in_range(report):
    rows = rows_by_case(report)
    mask_rcnn = rows[('mask-rcnn', '2 iters, test 2 scenes')]['metrics']
    assert all(-1 <= mask_rcnn[f'{task}_mAP'] <= 1 for task in ('bbox', 'segm'))
    upernet = rows[('upernet', '2 iters, test 2 scenes')]['metrics']
    assert 0 <= upernet['mIoU'] <= 100
    amp = rows[('finetune-amp', 'AutocastOptimWrapper bfloat16')]['metrics']
    assert amp['non_finite_losses'] == 0 and amp['params_finite'] == 1
    for name in ('dense', 'gather', 'spconv', 'full'):
        fcmae = rows[('fcmae', name)]['metrics']
        assert fcmae['median_ms'] > 0 and fcmae['activation_mb'] > 0


def test_judged_fails_non_finite_and_out_of_limit_numbers():
    assert judged('s', 'c', {'err': 1e-5}, {'err': 1e-4}).status == OK
    over = judged('s', 'c', {'err': 2e-4, 'ms': 3.0}, {'err': 1e-4})
    assert over.status == FAIL and over.note == 'out of range: err'
    assert judged('s', 'c', {'loss': math.nan}, {}).status == FAIL
    outside = judged('s', 'c', {'ap': 1.5}, {}, bounds={'ap': (-1.0, 1.0)})
    assert outside.status == FAIL and 'ap' in outside.note

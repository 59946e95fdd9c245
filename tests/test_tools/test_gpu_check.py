"""tools/gpu_check.py on the CPU (``--device cpu --quick``), so the GPU check cannot rot unrun;
and, without training, that a row the installation cannot run on the device fails the check."""
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import mmcv.ops
import pytest
import torch

from benchmarks.encoders import FULL, encoder_name
from shapes_lab import availability, gpu_stages
from shapes_lab.checks import ERROR, FAIL, OK, SKIP, UNAVAILABLE, CheckRow, check_passed, judged
from shapes_lab.gpu_stages import backbone_skip_reason, run_gpu_check
from shapes_lab.sizes import QUICK

slow = pytest.mark.slow  # the tests of `report`: it starts real training runs

REPO = Path(__file__).resolve().parents[2]
CUDA = torch.device('cuda')
SPARSE_CASES = ('dense', 'gather rows', 'gather full_map', 'spconv')
# The rows of a CPU run: every stage, fp16 autocast skipped (the CPU trains in bf16).
EXPECTED_ROWS = {
    ('backbone', 'eager fp32'): OK, ('backbone', 'eager bf16'): OK,
    ('backbone', 'eager fp16'): SKIP, ('backbone', 'compile fp32'): OK,
    ('backbone', 'compile bf16'): OK, ('backbone', 'compile fp16'): SKIP,
    **{('sparse-equivalence', case): OK for case in SPARSE_CASES},
    **{('fcmae', case): OK for case in SPARSE_CASES + (FULL, )},
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


@slow
def test_every_row_is_there_with_its_status(report):
    rows = rows_by_case(report)
    assert {key: row['status'] for key, row in rows.items()} == EXPECTED_ROWS
    assert report['ok'] and report['device'] == 'cpu' and report['preset'] == 'quick'
    for key, row in rows.items():
        if row['status'] == 'skip':
            assert 'CPU' in row['note'], key


@slow
def test_every_number_is_finite(report):
    for row in report['rows']:
        assert all(math.isfinite(value) for value in row['metrics'].values()), row
        assert row['status'] == 'skip' or row['metrics'], row


@slow
def test_equivalence_errors_are_within_float32_roundoff(report):
    rows = rows_by_case(report)
    for case in SPARSE_CASES:
        metrics = rows[('sparse-equivalence', case)]['metrics']
        assert metrics['outputs_err'] <= FP32_TOLERANCE and metrics['grads_err'] <= FP32_TOLERANCE
    for mode in ('eager', 'compile'):
        fp32 = rows[('backbone', f'{mode} fp32')]['metrics']
        assert fp32['logits_err'] <= FP32_TOLERANCE and fp32['grads_err'] <= FP32_TOLERANCE
        bf16 = rows[('backbone', f'{mode} bf16')]['metrics']
        assert 0 < bf16['logits_err'] <= BF16_LOGITS_TOLERANCE


@slow
def test_row_encoders_save_activation_memory(report):
    """What sparsity saves: the encoders that compute on the visible rows (here 1 patch of 4)
    keep less for the backward than the dense backbone on the whole image. At these toy sizes
    the saved weights (atto's 3.7 M parameters, 14 MB) are most of it; the masks are seeded, so
    the sizes are exact."""
    rows = rows_by_case(report)
    full = rows[('fcmae', FULL)]['metrics']['activation_mb']
    for case in ('gather rows', 'gather full_map', 'spconv'):
        assert 0 < rows[('fcmae', case)]['metrics']['activation_mb'] < full, case


def test_judged_fails_non_finite_and_out_of_limit_numbers():
    assert judged('s', 'c', {'err': 1e-5}, {'err': 1e-4}).status == OK
    over = judged('s', 'c', {'err': 2e-4, 'ms': 3.0}, {'err': 1e-4})
    assert over.status == FAIL and over.note == 'out of range: err'
    assert judged('s', 'c', {'loss': math.nan}, {}).status == FAIL
    outside = judged('s', 'c', {'ap': 1.5}, {}, bounds={'ap': (-1.0, 1.0)})
    assert outside.status == FAIL and 'ap' in outside.note


def test_skips_by_design_pass_and_rows_that_cannot_run_fail():
    assert 'bfloat16' in backbone_skip_reason(torch.device('cpu'), torch.float16)
    assert backbone_skip_reason(torch.device('cpu'), torch.bfloat16) is None
    skip = CheckRow('backbone', 'eager fp16', SKIP)
    assert check_passed([CheckRow('s', 'c', OK), skip])
    for status in (FAIL, UNAVAILABLE, ERROR):
        assert not check_passed([skip, CheckRow('s', 'c', status)]), status


def must_not_run(*args, **kwargs):
    raise AssertionError('an unavailable row must not start its run')


def test_mmcv_without_cuda_kernels_fails_the_cuda_check(monkeypatch, tmp_path):
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: 'not available')
    monkeypatch.setattr(gpu_stages, 'mask_rcnn_stage', must_not_run)
    report = run_gpu_check(CUDA, QUICK, str(tmp_path), stages=('mask-rcnn', ))
    (row, ) = report['rows']
    assert row['status'] == UNAVAILABLE and report['ok'] is False
    assert 'mmcv was built without CUDA kernels' in row['note'] and 'FORCE_CUDA=1' in row['note']
    # The CPU runs mmcv's CPU kernels; CUDA kernels make the row available on CUDA.
    assert availability.mmcv_ops_unavailable(torch.device('cpu')) is None
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: '13.0')
    assert availability.mmcv_ops_unavailable(CUDA) is None


def fake_spconv(monkeypatch, cpu_only: bool | None) -> None:
    """spconv as the probe sees it: not installed (None), or a wheel with ``CPU_ONLY_BUILD``."""
    if cpu_only is None:
        monkeypatch.setitem(sys.modules, 'spconv', None)  # import spconv raises ImportError
        return
    constants = types.ModuleType('spconv.cppconstants')
    constants.CPU_ONLY_BUILD = cpu_only
    package = types.ModuleType('spconv')
    package.__version__, package.__path__, package.cppconstants = '2.3.8', [], constants
    monkeypatch.setitem(sys.modules, 'spconv', package)
    monkeypatch.setitem(sys.modules, 'spconv.cppconstants', constants)


def fake_encoder_runs(monkeypatch) -> list:
    """The fcmae and sparse-equivalence stages without models: every encoder built, timed or run
    is recorded in the returned list, and reports exact outputs."""
    runs = []

    def build(arch, backends, device, depthwise=('auto', )):
        names = [encoder_name(backend, mode) for backend in backends
                 for mode in (depthwise if backend == 'gather' else ('auto', ))]
        runs.extend(names)
        return dict.fromkeys(names + [FULL])

    def encoder_pass(arch, case, weights, images, mask, device):
        runs.append(encoder_name(*case))
        return {'stage0': torch.ones(2)}, {'weight': torch.ones(2)}

    monkeypatch.setattr(gpu_stages, 'build_encoders', build)
    monkeypatch.setattr(gpu_stages, 'time_encoders', lambda models, *args: {
        name: {'median_ms': 1.0, 'iqr_ms': 0.1, 'activation_mb': 1.0} for name in models})
    monkeypatch.setattr(gpu_stages, '_encoder_pass', encoder_pass)
    return runs


def sparse_rows(device: torch.device) -> dict[tuple[str, str], CheckRow]:
    rows = (gpu_stages.check_sparse_equivalence(device, QUICK.bench)
            + gpu_stages.check_fcmae(device, QUICK.bench))
    return {(row.stage, row.case): row for row in rows}


@pytest.mark.parametrize('device, cpu_only, reason', [
    ('cuda', True, 'is the CPU-only wheel: CUDA needs a CUDA wheel such as spconv-cu126'),
    ('cuda', None, 'spconv is not installed'),
    # The project's environment has spconv on the CPU too: missing there, it fails as well.
    ('cpu', None, 'spconv is not installed'),
    ('cpu', True, None),
])
def test_spconv_that_cannot_run_on_the_device_fails_its_rows(device, cpu_only, reason,
                                                             monkeypatch):
    fake_spconv(monkeypatch, cpu_only)
    monkeypatch.setattr(availability, 'fused_kernels', lambda device_type: object())  # compiled
    runs = fake_encoder_runs(monkeypatch)
    rows = sparse_rows(torch.device(device))
    runnable = ['dense', 'gather rows', 'gather full_map'] + (['spconv'] if reason is None else [])
    # The reference pass (dense), then each runnable case twice: its check and its build.
    assert sorted(runs) == sorted(['dense'] + 2 * runnable)
    for stage in ('sparse-equivalence', 'fcmae'):
        spconv = rows[(stage, 'spconv')]
        assert spconv.status == (OK if reason is None else UNAVAILABLE)
        assert reason is None or reason in spconv.note
        assert all(rows[(stage, case)].status == OK for case in runnable)
    assert rows[('fcmae', FULL)].status == OK
    assert check_passed(list(rows.values())) == (reason is None)


def test_row_kernels_that_do_not_compile_fail_their_rows(monkeypatch):
    fake_spconv(monkeypatch, cpu_only=False)
    monkeypatch.setattr(availability, 'fused_kernels', lambda device_type: None)
    runs = fake_encoder_runs(monkeypatch)
    rows = sparse_rows(CUDA)
    assert 'gather rows' not in runs and runs.count('gather full_map') == 2
    for stage in ('sparse-equivalence', 'fcmae'):
        row = rows[(stage, 'gather rows')]
        assert row.status == UNAVAILABLE and 'torch.compile' in row.note and 'triton' in row.note
        assert rows[(stage, 'gather full_map')].status == OK
    assert not check_passed(list(rows.values()))

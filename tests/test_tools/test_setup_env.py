"""The build plan of tools/setup_env.sh (CPU or CUDA mmcv, arch list, wheelhouse, spconv wheel).

The GPUs, nvcc and torch's CUDA version are faked through the script's environment variables, so
every case runs on a CPU machine; ``--print-plan`` prints the plan without installing anything.
"""
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'setup_env.sh'
TORCH_PIN = (REPO / 'requirements' / 'torch.txt').read_text().split('torch==')[1].split()[0]
SPCONV_PIN = (REPO / 'requirements' / 'spconv.txt').read_text().split('spconv==')[1].split()[0]
# The CPU build's wheelhouse, as it has always been named: a changed name would rebuild mmcv.
CPU_KEY = (f'mmcv-2.1.0_torch-{TORCH_PIN}_cp{sys.version_info.major}{sys.version_info.minor}_'
           f'{platform.machine()}')


def plan(tmp_path: Path, gpus: str, nvcc: str = '13.0', torch_cuda: str = '13.0',
         stack: str = 'pinned', **extra: str) -> tuple[int, dict[str, str]]:
    """Runs ``setup_env.sh --print-plan`` with faked inputs; returns its status and its lines."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('MMCV_WHEELHOUSE', 'TORCH_CUDA_ARCH_LIST', 'MMCONVNEXTV2_DEVICE')}
    env.update(MMCONVNEXTV2_FAKE_GPU_ARCH=gpus, MMCONVNEXTV2_FAKE_NVCC_VERSION=nvcc,
               MMCONVNEXTV2_FAKE_TORCH_CUDA=torch_cuda, XDG_CACHE_HOME=str(tmp_path),
               PYTHON=sys.executable, **extra)
    run = subprocess.run(['bash', str(SCRIPT), '--stack', stack, '--print-plan'], env=env,
                         capture_output=True, text=True, timeout=60)
    lines = dict(line.split('=', 1) for line in run.stdout.splitlines())
    return run.returncode, lines


def wheelhouse(tmp_path: Path, suffix: str = '') -> str:
    return str(tmp_path / 'mmconvnextv2' / 'wheelhouse' / (CPU_KEY + suffix))


def test_no_gpu_plans_the_cpu_build_as_before(tmp_path):
    status, lines = plan(tmp_path, 'none')
    assert status == 0
    assert lines == dict(device='cpu', gpu_compute_caps='none', torch_cuda='13.0',
                         cuda_home='none', nvcc_version='none', torch_cuda_arch_list='none',
                         mmcv_wheelhouse=wheelhouse(tmp_path), spconv=f'spconv=={SPCONV_PIN}')


def test_one_hopper_gpu_plans_cuda_kernels_for_sm90(tmp_path):
    status, lines = plan(tmp_path, '9.0')
    assert status == 0
    assert (lines['device'], lines['torch_cuda_arch_list']) == ('cuda', '9.0')
    assert lines['mmcv_wheelhouse'] == wheelhouse(tmp_path, '_cu130_sm90')
    # spconv has no CUDA 13 wheel; cu126 bundles its own CUDA runtime and runs beside it.
    assert lines['spconv'] == f'spconv-cu126=={SPCONV_PIN}'


def test_mixed_gpus_build_for_each_capability_once(tmp_path):
    status, lines = plan(tmp_path, '9.0,8.6, 9.0')
    assert status == 0
    assert (lines['gpu_compute_caps'], lines['torch_cuda_arch_list']) == ('8.6 9.0', '8.6;9.0')
    assert lines['mmcv_wheelhouse'] == wheelhouse(tmp_path, '_cu130_sm86-sm90')


def test_caller_arch_list_wins_over_the_detected_gpus(tmp_path):
    status, lines = plan(tmp_path, '9.0', TORCH_CUDA_ARCH_LIST='8.0;9.0')
    assert status == 0
    assert lines['torch_cuda_arch_list'] == '8.0;9.0'
    assert lines['mmcv_wheelhouse'] == wheelhouse(tmp_path, '_cu130_sm80-sm90')


def test_gpu_without_nvcc_names_what_to_install(tmp_path):
    status, lines = plan(tmp_path, '9.0', nvcc='none')
    assert status == 1
    assert lines['device'] == 'cpu'
    error = lines['error']
    assert 'no CUDA compiler' in error and 'nvcc 13.x' in error
    assert 'CUDA toolkit 13.0' in error and 'CUDA_HOME' in error
    assert 'MMCONVNEXTV2_DEVICE=cpu' in error


def test_nvcc_of_another_cuda_major_is_refused(tmp_path):
    status, lines = plan(tmp_path, '9.0', nvcc='12.4')
    assert status == 1
    assert "nvcc 12.4 in /fake/cuda does not match torch's CUDA 13.0" in lines['error']


def test_cpu_only_torch_on_a_gpu_machine_is_refused(tmp_path):
    status, lines = plan(tmp_path, '9.0', torch_cuda='none')
    assert status == 1
    assert f'torch {TORCH_PIN} is a CPU-only build' in lines['error']


def test_device_cpu_forces_the_cpu_build_on_a_gpu_machine(tmp_path):
    status, lines = plan(tmp_path, '9.0', nvcc='none', MMCONVNEXTV2_DEVICE='cpu')
    assert status == 0
    assert (lines['device'], lines['mmcv_wheelhouse']) == ('cpu', wheelhouse(tmp_path))
    assert lines['spconv'] == f'spconv=={SPCONV_PIN}'


@pytest.mark.parametrize('torch_cuda, spconv', [
    ('12.8', 'spconv-cu126'), ('12.6', 'spconv-cu126'), ('12.5', 'spconv-cu124'),
    ('12.1', 'spconv-cu121'), ('11.8', 'spconv-cu118'), ('11.7', 'spconv')])
def test_spconv_wheel_is_the_newest_not_newer_than_torchs_cuda(tmp_path, torch_cuda, spconv):
    status, lines = plan(tmp_path, '8.0', nvcc=torch_cuda, torch_cuda=torch_cuda)
    assert status == 0 and lines['device'] == 'cuda'
    assert lines['spconv'] == f'{spconv}=={SPCONV_PIN}'


def test_unknown_argument_is_refused():
    run = subprocess.run(['bash', str(SCRIPT), '--plan'], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and 'usage:' in run.stderr


@pytest.mark.parametrize('stack', ['oldest', 'newest'])
def test_other_stacks_build_for_their_torch_on_the_cpu(tmp_path, stack):
    pin = (REPO / 'requirements' / f'torch-{stack}.txt').read_text().split('torch==')[1].split()[0]
    # The compat stacks check the CPU build, also on a GPU machine.
    status, lines = plan(tmp_path, '9.0', stack=stack)
    assert status == 0
    assert lines['device'] == 'cpu'
    assert lines['mmcv_wheelhouse'] == wheelhouse(tmp_path).replace(f'torch-{TORCH_PIN}',
                                                                    f'torch-{pin}')


def test_unknown_stack_is_refused():
    run = subprocess.run(['bash', str(SCRIPT), '--stack', 'latest'], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and 'usage:' in run.stderr and 'pinned|oldest|newest' in run.stderr

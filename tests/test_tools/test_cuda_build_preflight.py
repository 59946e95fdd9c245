"""tools/cuda_build_preflight.sh on a faked machine: a CUDA_HOME, compilers, ninja and a Python.

Every executable the script runs is a stand-in script written here and found through PATH or
CUDA_HOME; PATH holds those, ``sed`` and ``dirname`` only, so nothing of the real machine leaks
in.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'cuda_build_preflight.sh'
BASH = shutil.which('bash')


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/sh\n' + text)
    path.chmod(0o755)
    return path


def fake_machine(root: Path, nvcc: str | None = '12.6', gcc: str | None = '13.2.0',
                 torch_cuda: str = '12.6', ninja: bool = True, python_headers: bool = True,
                 libcudart: str | None = 'lib64/libcudart.so', runtime_header: bool = True,
                 cxx: bool = True) -> tuple[Path, dict[str, str]]:
    """A machine with the given pieces (None or False: absent); its python and environment."""
    cuda, tools, site = root / 'cuda', root / 'bin', root / 'site'
    cuda.mkdir()
    tools.mkdir()
    for command in ('sed', 'dirname'):
        (tools / command).symlink_to(shutil.which(command))
    if nvcc:
        executable(cuda / 'bin' / 'nvcc', f'echo "nvcc: NVIDIA (R) Cuda compiler driver"\n'
                                          f'echo "Cuda compilation tools, release {nvcc}, '
                                          f'V{nvcc}.77"\n')
    if runtime_header:
        (cuda / 'include').mkdir()
        (cuda / 'include' / 'cuda_runtime.h').write_text('')
    if libcudart:
        library = (site if libcudart.startswith('nvidia/') else cuda) / libcudart
        library.parent.mkdir(parents=True, exist_ok=True)
        library.write_text('')
    if gcc:
        executable(tools / 'gcc', f'case "$1" in --version) echo "gcc (GCC) {gcc}";; '
                                  f'*) echo {gcc};; esac\n')
    if cxx:
        executable(tools / 'c++', 'echo "c++ (GCC) fake"\n')
    if ninja:
        executable(tools / 'ninja', 'echo 1.11.1\n')
    include = root / 'include'
    include.mkdir()
    if python_headers:
        (include / 'Python.h').write_text('')
    python = executable(root / 'venv' / 'bin' / 'python', (
        'printf "%s\\n" python=3.11 include={include} torch=2.14.1 torch_cuda={torch_cuda} '
        'site={site}\n').format(include=include, torch_cuda=torch_cuda, site=site))
    return python, {'PATH': str(tools), 'CUDA_HOME': str(cuda)}


def preflight(python: Path, env: dict[str, str]) -> tuple[int, str]:
    run = subprocess.run([BASH, str(SCRIPT), str(python)], env=env, capture_output=True,
                         text=True, timeout=30)
    assert not run.stderr, run.stderr
    return run.returncode, run.stdout


def missing(output: str) -> list[str]:
    """The names of the missing pieces: what precedes the colon of each MISSING line."""
    return [line.split(None, 1)[1].split(':')[0] for line in output.splitlines()
            if line.startswith('MISSING')]


def test_a_complete_machine_passes(tmp_path):
    status, output = preflight(*fake_machine(tmp_path))
    assert status == 0, output
    assert 'ok       nvcc 12.6' in output
    assert "nvcc's host compiler: gcc 13 (gcc; nvcc 12.6 accepts up to 13)" in output
    assert output.endswith('ready for a CUDA build of mmcv\n') and 'MISSING' not in output


def test_every_missing_piece_is_named_with_its_fix(tmp_path):
    status, output = preflight(*fake_machine(
        tmp_path, nvcc=None, gcc=None, ninja=False, python_headers=False, libcudart=None,
        runtime_header=False, cxx=False))
    assert status == 1
    assert missing(output) == ['Python.h', 'ninja', 'nvcc', 'cuda_runtime.h', 'libcudart',
                               'C++ compiler', "nvcc's host compiler"]
    assert 'apt install python3.11-dev' in output and '-m pip install ninja' in output
    assert "NVIDIA's cuda-toolkit-12-6 package" in output
    assert 'cuda-cudart-dev' in output and 'install gcc and g++' in output
    assert output.endswith('7 missing; fix them before building mmcv with FORCE_CUDA=1\n')


@pytest.mark.parametrize('nvcc, gcc, max_gcc', [
    ('12.3', '13.1.0', 12), ('12.6', '14.2.0', 13), ('12.9', '15.1.0', 14),
    ('13.0', '16.0.1', 15)])
def test_a_gcc_newer_than_nvcc_accepts_is_missing(tmp_path, nvcc, gcc, max_gcc):
    status, output = preflight(*fake_machine(tmp_path, nvcc=nvcc, gcc=gcc,
                                             torch_cuda=nvcc))
    assert status == 1 and missing(output) == ["nvcc's host compiler"]
    assert f'gcc {gcc.split(".")[0]} (gcc), but nvcc {nvcc} accepts gcc up to {max_gcc}' in output
    assert f'CC=gcc-{max_gcc} CXX=g++-{max_gcc}' in output


def test_the_toolkits_host_config_wins_over_the_table(tmp_path):
    python, env = fake_machine(tmp_path, nvcc='12.6', gcc='13.2.0')
    crt = Path(env['CUDA_HOME']) / 'include' / 'crt'
    crt.mkdir()
    (crt / 'host_config.h').write_text(
        '#if __GNUC__ > 11\n#error -- unsupported GNU version! gcc versions later than 11 are '
        'not supported! The nvcc flag ...\n#endif\n')
    status, output = preflight(python, env)
    assert status == 1 and 'nvcc 12.6 accepts gcc up to 11' in output


def test_without_cuda_home_the_toolkit_of_the_nvcc_on_path_is_checked(tmp_path):
    """As torch picks it: the folder above the nvcc on PATH."""
    python, env = fake_machine(tmp_path)
    cuda = env.pop('CUDA_HOME')
    status, output = preflight(python, {**env, 'PATH': f'{cuda}/bin:{env["PATH"]}'})
    assert status == 0 and f'ok       nvcc 12.6 ({cuda}/bin/nvcc)' in output
    assert f'ok       libcudart ({cuda}/lib64/libcudart.so)' in output


def test_an_nvcc_of_unknown_compiler_support_only_warns(tmp_path):
    status, output = preflight(*fake_machine(tmp_path, nvcc='13.9', torch_cuda='13.0'))
    assert status == 0, output
    assert 'warn     gcc 13 (gcc): which GCC versions nvcc 13.9 accepts is not known' in output


def test_an_nvcc_of_another_cuda_major_than_torch_is_missing(tmp_path):
    status, output = preflight(*fake_machine(tmp_path, nvcc='12.6', torch_cuda='13.0'))
    assert status == 1 and missing(output) == ['nvcc 12.6 in ' + str(tmp_path / 'cuda')]
    assert "torch is built with CUDA 13.0" in output and 'cuda-toolkit-13-0' in output


@pytest.mark.parametrize('libcudart, fix', [
    # Versioned only: -lcudart does not find it; torch's pip copy likewise.
    ('lib64/libcudart.so.12', 'ln -sf "{root}/cuda/lib64/libcudart.so.12" ~/cudart/libcudart.so'),
    ('nvidia/cu13/lib/libcudart.so.13',
     'ln -sf "{root}/site/nvidia/cu13/lib/libcudart.so.13" ~/cudart/libcudart.so'),
    # Linkable, but where the linker does not look.
    ('targets/x86_64-linux/lib/libcudart.so',
     'export LIBRARY_PATH="{root}/cuda/targets/x86_64-linux/lib${{LIBRARY_PATH:+:$LIBRARY_PATH}}"'),
])
def test_a_libcudart_the_linker_cannot_find_is_missing_with_its_fix(tmp_path, libcudart, fix):
    python, env = fake_machine(tmp_path, libcudart=libcudart)
    status, output = preflight(python, env)
    assert status == 1 and missing(output) == ['libcudart']
    assert fix.format(root=tmp_path) in output
    # Following the fix makes it linkable.
    folder = tmp_path / 'linked'
    folder.mkdir()
    (folder / 'libcudart.so').symlink_to(next(tmp_path.glob(f'*/{libcudart}')))
    status, output = preflight(python, {**env, 'LIBRARY_PATH': str(folder)})
    assert status == 0 and f'ok       libcudart ({folder}/libcudart.so)' in output


def test_ninja_beside_the_python_is_found_off_path(tmp_path):
    """tools/build_mmcv.sh runs the ninja of the venv whose python builds, on PATH or not."""
    python, env = fake_machine(tmp_path, ninja=False)
    executable(python.parent / 'ninja', 'echo 1.11.1\n')
    status, output = preflight(python, env)
    assert status == 0 and f'ok       ninja ({python.parent}/ninja)' in output

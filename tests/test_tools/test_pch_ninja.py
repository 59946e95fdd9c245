"""tools/pch_ninja.sh: the header is precompiled with build.ninja's own flags, then ninja runs."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'tools' / 'pch_ninja.sh'
# As torch's BuildExtension writes them; the macro carries the shell escapes ninja's sh removes.
BUILD_NINJA = '''ninja_required_version = 1.3
cxx = c++
cflags = -O1 -DGREETING=\\"hello\\" -fPIC -c
post_cflags = -std=c++17
'''


def run(tmp_path: Path, header_text: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Runs the wrapper in a build folder; the 'real ninja' records its arguments."""
    header = tmp_path / 'helper.hpp'
    header.write_text(header_text)
    build = tmp_path / 'build'
    build.mkdir()
    (build / 'build.ninja').write_text(BUILD_NINJA)
    real = tmp_path / 'real_ninja'
    real.write_text('#!/bin/sh\necho "$@" > ran_with\n')
    real.chmod(0o755)
    env = dict(os.environ, PCH_HEADER=str(header), REAL_NINJA=str(real))
    result = subprocess.run(['bash', str(SCRIPT), '-v', '-j', '2'], cwd=build, env=env,
                            capture_output=True, text=True, timeout=60)
    return result, build


def test_header_is_precompiled_with_the_build_flags_then_ninja_runs(tmp_path):
    # Compiles only if GREETING arrives as the string "hello", as sh passes it to the compiler.
    result, build = run(tmp_path, 'static_assert(sizeof(GREETING) == 6, "flags");\n')
    assert result.returncode == 0, result.stderr
    assert (tmp_path / 'helper.hpp.gch').stat().st_size > 0
    assert (build / 'ran_with').read_text().split() == ['-v', '-j', '2']


def test_a_header_that_does_not_compile_only_costs_the_precompilation(tmp_path):
    result, build = run(tmp_path, 'this is not C++\n')
    assert result.returncode == 0
    assert 'the build goes on without it' in result.stderr
    assert not (tmp_path / 'helper.hpp.gch').exists()
    assert (build / 'ran_with').read_text().split() == ['-v', '-j', '2']

"""The supported versions: checked at import, and the same as ``pip install`` asks for."""
import configparser
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from mmconvnextv2 import dependencies
from mmconvnextv2.dependencies import SUPPORTED, check_dependencies, unsupported_dependencies

REPO = Path(__file__).resolve().parents[1]


def fake_versions(monkeypatch, **versions: str | None) -> None:
    """Installed versions by distribution name; None: not installed; others as they are."""
    real = metadata.version

    def version(name: str) -> str:
        if name in versions:
            if versions[name] is None:
                raise metadata.PackageNotFoundError(name)
            return versions[name]
        return real(name)

    monkeypatch.setattr(dependencies.metadata, 'version', version)


def test_the_running_stack_is_supported():
    assert unsupported_dependencies() == []


def test_too_old_torch_is_named_with_the_range(monkeypatch):
    fake_versions(monkeypatch, torch='1.13.1+cu117')
    with pytest.raises(ImportError, match=r'mmconvnextv2 needs torch >= 2\.1, found 1\.13\.1'):
        check_dependencies()


@pytest.mark.parametrize('version, supported', [
    ('2.0.0', True), ('2.1.0', True), ('2.1.2', True), ('2.2.0', False), ('1.7.2', False)])
def test_mmcv_range_is_the_one_mmdet_requires(monkeypatch, version, supported):
    fake_versions(monkeypatch, mmcv=version, **{'mmcv-lite': None})
    problems = unsupported_dependencies()
    assert (problems == []) == supported
    if not supported:
        assert problems == [f'mmconvnextv2 needs mmcv >= 2.0.0, < 2.2.0, found {version}: install '
                            'mmcv >= 2.0.0, < 2.2.0 (mmdet 3.3 and mmseg 1.2 require mmcv < '
                            '2.2.0).']


def test_mmcv_lite_counts_as_mmcv(monkeypatch):
    fake_versions(monkeypatch, mmcv=None, **{'mmcv-lite': '2.1.0'})
    assert unsupported_dependencies() == []


def test_missing_required_and_optional_packages(monkeypatch):
    fake_versions(monkeypatch, mmengine=None, mmdet=None)
    # mmdet is needed by its configs only; mmengine by every import.
    assert unsupported_dependencies() == [
        'mmconvnextv2 needs mmengine >= 0.10.7, < 0.11.0, found none: install mmengine '
        '>= 0.10.7, < 0.11.0.']


def test_an_unsupported_torch_stops_the_import_before_torch_is_imported():
    code = ('import sys\n'
            'from importlib import metadata\n'
            'real = metadata.version\n'
            'metadata.version = lambda name: "1.13.1" if name == "torch" else real(name)\n'
            'try:\n'
            '    import mmconvnextv2\n'
            'except ImportError as error:\n'
            '    print(error, "torch" in sys.modules)\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith('mmconvnextv2 needs torch >= 2.1, found 1.13.1: install '
                                    'torch >= 2.1.')
    assert result.stdout.split()[-1] == 'False'


def test_install_requires_holds_the_checked_ranges_and_neither_torch_nor_mmcv():
    setup = configparser.ConfigParser()
    setup.read(REPO / 'setup.cfg')
    assert setup['options']['install_requires'].strip() == 'file: requirements/runtime.txt'
    lines = (REPO / 'requirements' / 'runtime.txt').read_text().splitlines()
    requirements = {r.name: r for r in (Requirement(line) for line in lines
                                        if line and not line.startswith('#'))}
    assert 'torch' not in requirements and not any(name.startswith('mmcv') for name in requirements)
    for name, supported in SUPPORTED.items():
        if name in ('torch', 'mmcv'):
            continue
        specifiers = {(s.operator, s.version) for s in requirements[name].specifier}
        assert specifiers == {('>=', supported.minimum), ('<', supported.below)}, name

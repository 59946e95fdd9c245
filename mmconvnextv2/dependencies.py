"""The versions of torch and the OpenMMLab packages that mmconvnextv2 supports, checked at import.

Read from the installed distributions' metadata, before anything imports them: a version outside
its range stops the import with an error that names the range, not with a traceback from deep
inside an older torch or mmcv. ``setup.cfg``'s ``install_requires`` holds the same ranges for the
OpenMMLab packages; torch and mmcv are the user's own builds (they must match the CUDA at hand),
so pip never installs them for us.
"""
from importlib import metadata
from typing import NamedTuple

from packaging.version import Version


class Supported(NamedTuple):
    """The range of a dependency: ``minimum <= version < below`` (no upper bound for None).

    Attributes:
        distributions: The names it is installed under, the first the one to install.
        minimum: The oldest supported version.
        below: The first version no longer supported, or None.
        why: Why the range is what it is, for the error message.
    """

    distributions: tuple[str, ...]
    minimum: str
    below: str | None = None
    why: str = ''

    def describe(self) -> str:
        """``'>= 2.0.0, < 2.2.0'``."""
        return f'>= {self.minimum}' + (f', < {self.below}' if self.below else '')

    def admits(self, version: str) -> bool:
        """Whether ``version`` (a release, a local build such as ``2.1.2+cu121`` included) is in
        the range."""
        release = Version(Version(version).base_version)
        return release >= Version(self.minimum) and (self.below is None
                                                     or release < Version(self.below))


# torch 2.1 is the oldest: OpenMMLab publishes mmcv 2.1.0 wheels for torch 2.0 and 2.1, and 2.1 is
# the oldest this project's compat suite runs on (make test-compat).
SUPPORTED: dict[str, Supported] = {
    'torch': Supported(('torch', ), '2.1'),
    'mmcv': Supported(('mmcv', 'mmcv-lite'), '2.0.0', '2.2.0', 'mmdet 3.3 and mmseg 1.2 require '
                      'mmcv < 2.2.0'),
    'mmengine': Supported(('mmengine', ), '0.10.7', '0.11.0'),
    'mmpretrain': Supported(('mmpretrain', ), '1.2.0', '1.3.0'),
    'mmdet': Supported(('mmdet', ), '3.3.0', '3.4.0'),
    'mmsegmentation': Supported(('mmsegmentation', ), '1.2.2', '1.3.0'),
}
# Needed by every import of the package; mmdet and mmsegmentation only by their configs.
REQUIRED = ('torch', 'mmcv', 'mmengine', 'mmpretrain')


def installed_version(name: str) -> str | None:
    """The installed version of dependency ``name`` of :data:`SUPPORTED`, or None."""
    for distribution in SUPPORTED[name].distributions:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def unsupported_dependencies() -> list[str]:
    """One sentence per dependency that is missing (when required) or outside its range."""
    problems = []
    for name, supported in SUPPORTED.items():
        version = installed_version(name)
        wanted = f'{name} {supported.describe()}'
        fix = f'install {supported.distributions[0]} {supported.describe()}'
        if supported.why:
            fix += f' ({supported.why})'
        if version is None:
            if name in REQUIRED:
                problems.append(f'mmconvnextv2 needs {wanted}, found none: {fix}.')
        elif not supported.admits(version):
            problems.append(f'mmconvnextv2 needs {wanted}, found {version}: {fix}.')
    return problems


def check_dependencies() -> None:
    """Raises ImportError naming every dependency that is missing or outside its range."""
    problems = unsupported_dependencies()
    if problems:
        raise ImportError(' '.join(problems) + ' See "Installing into your environment" in '
                          'the README for the supported stack.')

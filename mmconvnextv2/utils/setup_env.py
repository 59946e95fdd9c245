"""Scope registration for mmconvnextv2, and where its configs are."""
import datetime
import os.path as osp
import warnings

from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import DefaultScope, Registry

SCOPE = 'mmconvnextv2'
# The package's configs: the repository's configs/ through a link in a checkout or an editable
# install, a copy in a regular install (setup.py's package_data).
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs')


def register_config_scope() -> None:
    """Lets mmengine resolve ``_base_ = 'mmconvnextv2::<path>'`` in configs of your own.

    mmengine resolves ``<scope>::`` bases only for the packages in its ``MODULE2PACKAGE`` table;
    adding an entry there is its documented extension point for third-party packages. Call it
    before ``Config.fromfile`` reads such a config (``tools/train.py`` and
    :func:`mmconvnextv2.utils.load_config` do). Our own configs inherit from each other by relative
    paths and need no entry. mmengine looks for the configs in the installed distribution's
    folder, which a PEP 660 editable install (``pip install -e .``) leaves empty: there, inherit
    from the repository's ``configs/`` by path instead.
    """
    MODULE2PACKAGE.setdefault(SCOPE, SCOPE)


def package_config(name: str) -> str:
    """The path of config ``name`` (e.g. ``'convnextv2/convnextv2-atto_shapes.py'``) in the
    package, wherever and however it is installed.

    Raises:
        FileNotFoundError: If the package has no such config.
    """
    path = osp.join(CONFIG_ROOT, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'mmconvnextv2 has no config {name!r} (looked for {path}).')
    return path


def register_all_modules(init_default_scope: bool = True) -> None:
    """Imports every module that registers into the ``mmconvnextv2`` registries.

    The modules are those each registry of :mod:`mmconvnextv2.registry` names as its locations,
    which it would otherwise import at its first lookup; this function does not import the
    subpackages itself, so ``utils`` stays below them. It is the OpenMMLab entry point under this
    name (also ``mmconvnextv2.register_all_modules``), which mmengine's hub calls for
    ``mmengine.hub.get_model('mmconvnextv2::<config>')``.

    Args:
        init_default_scope: Also make ``mmconvnextv2`` the default scope, so configs can name
            our modules without the ``mmconvnextv2.`` prefix.
    """
    # Here, not at the top: the registries import mmpretrain, which ``import mmconvnextv2``
    # does not need.
    from mmconvnextv2 import registry

    for value in vars(registry).values():
        if isinstance(value, Registry) and value.scope == SCOPE:
            value.import_from_location()

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None:
        DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
    elif current.scope_name != SCOPE:
        warnings.warn(f'The current default scope {current.scope_name!r} is not {SCOPE!r}; '
                      f'a new default scope named {SCOPE!r} is created for mmconvnextv2.')
        # Instance names must be unique, so the new one carries a timestamp.
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
        DefaultScope.get_instance(f'{SCOPE}-{stamp}', scope_name=SCOPE)

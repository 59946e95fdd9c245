"""Scope registration for mmconvnextv2."""
import datetime
import warnings

from mmengine import DefaultScope
from mmengine.config.utils import MODULE2PACKAGE

SCOPE = 'mmconvnextv2'


def register_config_scope() -> None:
    """Lets mmengine resolve ``_base_ = 'mmconvnextv2::<path>'`` to the configs in this package.

    mmengine resolves ``<scope>::`` bases only for the packages in its ``MODULE2PACKAGE`` table;
    adding an entry there is its documented extension point for third-party packages.
    """
    MODULE2PACKAGE.setdefault(SCOPE, SCOPE)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Imports every module that registers into the ``mmconvnextv2`` registries.

    Args:
        init_default_scope: Also make ``mmconvnextv2`` the default scope, so configs can name
            our modules without the ``mmconvnextv2.`` prefix.
    """
    import mmconvnextv2.datasets  # noqa: F401
    import mmconvnextv2.engine  # noqa: F401
    import mmconvnextv2.models  # noqa: F401

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

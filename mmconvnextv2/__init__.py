"""ConvNeXt V2 on the OpenMMLab stack: GRN, the backbone, FCMAE and downstream recipes.

Importing the package checks the versions of torch and the OpenMMLab packages
(:mod:`mmconvnextv2.dependencies`) and changes nothing global. The subpackages register their
modules in the ``mmconvnextv2`` scope, each imported at the first lookup in a registry it fills
(:func:`register_all_modules` imports them all at once); :func:`register_config_scope` lets
mmengine resolve ``_base_ = 'mmconvnextv2::<path>'`` in configs of your own.
"""
from .dependencies import check_dependencies
from .version import __version__

check_dependencies()

from .utils import register_all_modules, register_config_scope  # noqa: E402

__all__ = ['__version__', 'register_all_modules', 'register_config_scope']

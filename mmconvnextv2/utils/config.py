"""Reading a config as ``tools/train.py`` and ``tools/test.py`` do: by path or by
``<package>::<path>``, with overrides and a work directory."""
import os.path as osp

from mmengine.config import Config

from .setup_env import SCOPE, package_config, register_config_scope


def load_config(path: str, work_dir: str | None = None,
                cfg_options: dict | None = None) -> Config:
    """Reads a config, applies overrides and sets the work directory.

    Args:
        path: Config file, or ``<package>::<path>`` inside an installed package (e.g.
            ``mmconvnextv2::convnextv2/convnextv2-atto_shapes.py``), found wherever it is
            installed.
        work_dir: Where logs and checkpoints go; defaults to ``work_dirs/<config name>``.
        cfg_options: ``key=value`` overrides merged into the config.

    Returns:
        The config, ready for :func:`mmconvnextv2.utils.build_runner`.

    Raises:
        FileNotFoundError: If the config does not exist.
    """
    scope, _, name = path.rpartition('::')
    if scope == SCOPE:
        path = package_config(name)
    elif scope:
        # mmengine's own resolution of ``_base_ = '<package>::...'``.
        path = Config._get_cfg_path(path, '')[0]
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file {path!r} does not exist.')
    # A config of the user's may inherit ours as ``mmconvnextv2::`` bases.
    register_config_scope()
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg

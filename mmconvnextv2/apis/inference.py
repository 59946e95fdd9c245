"""The model zoo by name, where OpenMMLab users type names.

After :func:`register_zoo`, every model of ``model-index.yml`` (the bundled-shapes zoo of
``zoo/metafile.yml`` and the ImageNet models of ``configs/convnextv2/metafile.yml``) is reachable
through the libraries' own entry points::

    mmpretrain.get_model('convnextv2-atto_shapes', pretrained=True)
    mmpretrain.ImageClassificationInferencer('convnextv2-atto_shapes')
    mmdet.apis.DetInferencer('mask-rcnn_convnextv2-atto_fpn_shapes', scope='mmconvnextv2')
    mmseg.apis.MMSegInferencer('convnextv2-atto_upernet_shapes', scope='mmconvnextv2')

Each library finds the names by its own registration, nothing here looks them up:

- mmpretrain keeps a table of model indexes (``ModelHub.register_model_index``); ours is added
  to it, and the weights it names by a path relative to the index's folder are made absolute, so
  ``pretrained=True`` loads them from any current directory.
- mmengine's inferencers (mmdet's and mmseg's derive from them) read the metafiles of the
  package named by their ``scope``, once the scope is in mmengine's ``MODULE2PACKAGE``
  (:func:`~mmconvnextv2.utils.register_config_scope`). They load the ``Weights`` path as written,
  relative to the current directory: from elsewhere than the repository root, pass ``weights=``.
"""
import os.path as osp

from mmengine.infer import BaseInferencer
from mmpretrain.apis import ModelHub
from modelindex.load_model_index import load as load_model_index

from mmconvnextv2.utils import SCOPE, register_config_scope

MODEL_INDEX = 'model-index.yml'


def zoo_root() -> str:
    """The folder of ``model-index.yml``, whose paths (configs, metafiles, weights) start there.

    It is the folder mmengine's inferencers read for ``scope='mmconvnextv2'``: the repository
    root of a checkout or an editable install, ``mmconvnextv2/.mim`` of a regular install.

    Raises:
        FileNotFoundError: If that folder has no ``model-index.yml``.
    """
    # mmengine's own resolution, so that mmpretrain's entries and mmengine's agree.
    root = BaseInferencer._get_repo_or_mim_dir(SCOPE)
    if not osp.isfile(osp.join(root, MODEL_INDEX)):
        raise FileNotFoundError(
            f'{root} has no {MODEL_INDEX}: the model zoo is reachable by name from a checkout of '
            'the repository or an install of it (`pip install -e .` or `make setup`).')
    return root


def _absolute_weights(weights: str | None, root: str) -> str | None:
    """``weights`` anchored at ``root`` when it is a relative path; URLs and None as they are."""
    if weights is None or '://' in weights or osp.isabs(weights):
        return weights
    return osp.join(root, weights)


def register_zoo() -> None:
    """Makes the zoo's names work in mmpretrain, mmdet and mmseg; calling it again does nothing.

    - mmengine's inferencers (``DetInferencer``, ``MMSegInferencer``) with
      ``scope='mmconvnextv2'`` read our metafiles: the scope goes into ``MODULE2PACKAGE``.
    - mmpretrain (``get_model``, ``list_models``, ``ImageClassificationInferencer``,
      ``inference_model``) gets our model index through ``ModelHub.register_model_index``, its
      local weights made absolute.

    Raises:
        FileNotFoundError: If the package has no model index (see :func:`zoo_root`).
        ValueError: From mmpretrain, if a name of ours is registered by another index.
    """
    register_config_scope()
    root = zoo_root()
    index_path = osp.join(root, MODEL_INDEX)
    index = load_model_index(index_path)
    index.build_models_with_collections()
    names = [model.name.lower() for model in index.models]
    if all(ModelHub.has(name) for name in names):
        return
    ModelHub.register_model_index(index_path, config_prefix=root)
    # ModelHub.get hands out copies: its table holds the entries that get_model loads from.
    for name in names:
        metainfo = ModelHub._models_dict[name]
        metainfo.weights = _absolute_weights(metainfo.weights, root)

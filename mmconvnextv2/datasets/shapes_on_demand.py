"""The bundled shapes scenes, generated on demand by the data sets that read them from disk.

A shapes config names the scenes its data root holds, ``scenes=dict(num_train=..., num_val=...,
size=..., seed=...)`` (arguments of :func:`~mmconvnextv2.datasets.shapes.ensure_shapes_dataset`),
and the data set makes them exist before it reads anything: ``tools/test.py CONFIG CHECKPOINT``
then works on a fresh clone. Scenes of other settings are refused, naming the command that
replaces them, so a metric is never measured on other scenes than the config's.

When it happens, and why nothing races:

- when the data set first loads its list (``full_init``; in ``__init__`` unless built with
  ``lazy_init=True``, as mmdet's and mmseg's inferencers do to read only the metainfo, which then
  writes nothing), so in the process that builds the data loader, before its workers start (they
  receive the built data set and never generate);
- each rank of a distributed run builds its data sets and arrives here: the ranks, and any other
  processes doing the same, serialise on the output folder's lock
  (:func:`~mmconvnextv2.datasets.shapes.ensure_shapes_dataset`), so one writes and the others
  wait, then find the scenes complete; nodes that do not share the folder each write their own
  copy of the same scenes (they depend on the settings only). The files are written atomically
  and the manifest last, so a killed run leaves an output that the next one regenerates.
"""
import os.path as osp

from .shapes import ShapesSettingsError, ensure_shapes_dataset, shapes_dataset_is_complete

# The keys of a data set's ``scenes`` argument: the arguments of ensure_shapes_dataset.
SCENE_SETTINGS = ('num_train', 'num_val', 'size', 'seed')


def shapes_output_of(data_root: str, layout: str) -> str:
    """The shapes output folder whose ``layout`` folder is ``data_root``.

    Args:
        data_root: A data set's data root, e.g. ``data/shapes_320/coco/``.
        layout: ``'coco'`` or ``'ade'``.

    Raises:
        ValueError: If ``data_root`` is not a local folder named ``layout``.
    """
    root = osp.normpath(data_root)
    if '://' in data_root or osp.basename(root) != layout:
        raise ValueError(f'To generate the shapes scenes on demand, data_root must be the local '
                         f'{layout!r} folder of a shapes output (tools/generate_shapes.py --out '
                         f'DIR writes DIR/{layout}), got {data_root!r}; or set the data set\'s '
                         f'scenes=None to read {data_root!r} as it is.')
    return osp.dirname(root) or '.'


def ensure_layout_scenes(data_root: str, layout: str, scenes: dict, owner: str) -> None:
    """Makes ``data_root``, the ``layout`` folder of a shapes output, hold the scenes ``scenes``.

    Generates them (and says what it writes where) when the output folder is missing or holds an
    unfinished run; returns at once when it holds them.

    Args:
        data_root: The data set's data root (``<output>/<layout>``).
        layout: ``'coco'`` or ``'ade'``.
        scenes: Keyword arguments of ``ensure_shapes_dataset``, keys from ``SCENE_SETTINGS``;
            left-out ones take its defaults.
        owner: The data set's class name, for error messages.

    Raises:
        ValueError: If ``scenes`` holds other keys, or ``data_root`` is not a layout folder.
        ShapesSettingsError: If the output folder holds complete scenes of other settings.
    """
    unknown = sorted(set(scenes) - set(SCENE_SETTINGS))
    if unknown:
        raise ValueError(f'{owner}: scenes takes the keys {list(SCENE_SETTINGS)}, got {unknown}.')
    out_dir = shapes_output_of(data_root, layout)
    if shapes_dataset_is_complete(out_dir, **scenes):
        return
    try:
        ensure_shapes_dataset(out_dir, **scenes, replace_other=False)
    except ShapesSettingsError as error:
        raise ShapesSettingsError(
            f'{owner}: {error} Or set the data set\'s scenes=None (e.g. --cfg-options '
            f'test_dataloader.dataset.scenes=None) to read {data_root} as it is.') from None


class ScenesOnDemand:
    """Mixin of a data set of a shapes layout: its ``scenes`` exist before its list is loaded.

    Attributes:
        layout: ``'coco'`` or ``'ade'``, the folder of the shapes output that ``data_root`` is.
    """

    layout: str

    def __init__(self, *args, scenes: dict | None = None, **kwargs) -> None:
        self.scenes = scenes
        super().__init__(*args, **kwargs)

    def full_init(self) -> None:
        """Generates missing or unfinished scenes (:func:`ensure_layout_scenes`), then loads."""
        if not self._fully_initialized and self.scenes is not None:
            ensure_layout_scenes(self.data_root, self.layout, self.scenes, type(self).__name__)
        super().full_init()

"""Image sources for feature analysis: a data set config's split or a folder, sampled per class.

The paper measures feature diversity on 1000 ImageNet-1K validation images of different classes;
:func:`round_robin_indices` generalises that to any labelled set: it takes one image of each class
in turn until it has enough.
"""
import os
import os.path as osp
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from mmengine.config import Config
from mmengine.dataset import BaseDataset, Compose
from mmengine.registry import DATASETS, DefaultScope

from .features import read_config

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')


def fixed_size_pipeline(img_size: int) -> list[dict]:
    """Short side resized to ``img_size``, centre crop ``img_size`` x ``img_size`` (bicubic)."""
    return [
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow',
             interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=img_size),
        dict(type='PackInputs'),
    ]


@dataclass(frozen=True)
class ImageSource:
    """Where the analysed images come from: exactly one of a data set config or a folder.

    Attributes:
        dataset_config: A config (see :func:`read_config`) with ``<split>_dataloader.dataset``,
            an mmpretrain data set.
        image_folder: A folder of images; one sub-folder per class gives labels, loose images
            form a single class.
        split: Which dataloader of ``dataset_config`` to read: ``'val'``, ``'test'`` or
            ``'train'``.
        img_size: Replace the pipeline by :func:`fixed_size_pipeline`. For a folder None means
            224; for a config None keeps the config's pipeline.
        data_root: Overrides the config's data set ``data_root`` (often a relative default).
        num_scenes: Overrides the config's ``num_scenes`` of a data set that renders its scenes
            (:class:`~mmconvnextv2.datasets.ShapesClsDataset`): its first ``num_scenes``, which
            hold every class in turn.
    """

    dataset_config: str | Config | None = None
    image_folder: str | None = None
    split: str = 'val'
    img_size: int | None = None
    data_root: str | None = None
    num_scenes: int | None = None

    def build(self) -> BaseDataset:
        """The mmpretrain data set; its items hold ``inputs``, (3, H, W) uint8 BGR tensors."""
        if (self.dataset_config is None) == (self.image_folder is None):
            raise ValueError('Give exactly one image source: a dataset config or an image folder.')
        if self.image_folder is not None:
            return _folder_dataset(self.image_folder, self.img_size or 224)
        cfg = read_config(self.dataset_config)
        loader = cfg.get(f'{self.split}_dataloader')
        if not loader or 'dataset' not in loader:
            raise ValueError(f'{self._config_name()} has no {self.split}_dataloader.dataset; '
                             "choose another split ('val', 'test' or 'train') or config.")
        dataset_cfg = loader['dataset'].copy()
        if self.data_root is not None:
            dataset_cfg['data_root'] = self.data_root
        if self.num_scenes is not None:
            if 'num_scenes' not in dataset_cfg:
                raise ValueError(f'num_scenes applies to data sets that render their scenes; '
                                 f'{dataset_cfg.get("type")} of {self._config_name()} has none.')
            dataset_cfg['num_scenes'] = self.num_scenes
        if self.img_size is not None:
            dataset_cfg['pipeline'] = fixed_size_pipeline(self.img_size)
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
            return DATASETS.build(dataset_cfg)

    def describe(self) -> str:
        """One line naming the source, for logs and the JSON output."""
        if self.image_folder is not None:
            return f'folder {self.image_folder}'
        root = f', data_root {self.data_root}' if self.data_root else ''
        scenes = f', first {self.num_scenes} scenes' if self.num_scenes else ''
        return f'{self.split} split of {self._config_name()}{root}{scenes}'

    def _config_name(self) -> str:
        if isinstance(self.dataset_config, str):
            return self.dataset_config
        return self.dataset_config.filename or 'the dataset config'


def _folder_dataset(folder: str, img_size: int) -> BaseDataset:
    if not osp.isdir(folder):
        raise FileNotFoundError(f'Image folder {folder!r} does not exist.')
    labelled = any(entry.is_dir() for entry in os.scandir(folder))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(dict(type='CustomDataset', data_root=folder, with_label=labelled,
                                   extensions=IMAGE_SUFFIXES,
                                   pipeline=fixed_size_pipeline(img_size)))


def dataset_labels(dataset: BaseDataset) -> list[int]:
    """The class index of every item, -1 for all when the data set has no labels."""
    return [int(dataset.get_data_info(i).get('gt_label', -1)) for i in range(len(dataset))]


def round_robin_indices(labels: Sequence[int], num_images: int, seed: int = 0) -> list[int]:
    """``num_images`` indices taken one per class in turn, classes in sorted order.

    Within a class the order is a seeded shuffle, so the choice does not follow file names.
    Fewer indices come back when the data set has fewer items.
    """
    by_class: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_class[label].append(index)
    rng = random.Random(seed)
    queues = []
    for label in sorted(by_class):
        members = by_class[label]
        rng.shuffle(members)
        queues.append(members)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < num_images and any(depth < len(queue) for queue in queues):
        chosen.extend(queue[depth] for queue in queues if depth < len(queue))
        depth += 1
    return chosen[:num_images]


def load_images(dataset: BaseDataset, indices: Sequence[int]) -> torch.Tensor:
    """The (B, 3, H, W) uint8 batch of the given items.

    Raises:
        ValueError: If the images differ in size (pass ``img_size``).
    """
    images = [dataset[i]['inputs'] for i in indices]
    sizes = {tuple(image.shape) for image in images}
    if len(sizes) > 1:
        raise ValueError(f'Images of different sizes {sorted(sizes)} cannot form a batch; set '
                         'img_size to resize them all.')
    return torch.stack(images)


def load_image(path: str, img_size: int) -> torch.Tensor:
    """An image file as a (3, img_size, img_size) uint8 BGR tensor (:func:`fixed_size_pipeline`)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Image {path!r} does not exist.')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        pipeline = Compose(fixed_size_pipeline(img_size))
    return pipeline(dict(img_path=path))['inputs']

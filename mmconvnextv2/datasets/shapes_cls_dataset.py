"""mmpretrain data set that renders the bundled shapes scenes on the fly, at any number.

Scene ``index`` of a split is :func:`~mmconvnextv2.datasets.shapes.draw_dataset_scene` of
``(seed, split, index)``: the same pixels the writer puts on disk, so the ``train`` and ``val``
scenes equal those of ``write_shapes_dataset`` at the same seed and size. Nothing is stored: a
pool of 10^5 scenes costs no disk and no start-up time, and a labelled subset of N scenes is the
first N of its split (balanced, since the main shape cycles through the classes with the index).
"""

from mmpretrain.datasets import BaseDataset

from mmconvnextv2.registry import DATASETS

from .shapes import MIN_SIZE, SCENE_SPLITS, SHAPE_CLASSES, draw_dataset_scene


@DATASETS.register_module()
class ShapesClsDataset(BaseDataset):
    """Classification of the synthetic shapes: label = the class of the scene's main shape.

    Each item arrives at the pipeline as a decoded image (``img``, HWC uint8 in BGR order, as
    mmcv's loaders give it), so pipelines start after the loading step.

    Args:
        num_scenes: Number of scenes, ``>= 1``: scenes ``start .. start + num_scenes - 1``.
        split: ``'train'``, ``'val'`` or the unlabelled pre-training ``'pool'``.
        seed: Data set seed, ``>= 0``.
        size: Image side in pixels, ``>= 64``.
        start: Index of the first scene, ``>= 0``.
        with_label: Whether items carry ``gt_label`` (False for self-supervised pre-training).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.BaseDataset` (``pipeline``,
            ``test_mode``, ...); its file arguments do not apply.
    """
    METAINFO = dict(classes=SHAPE_CLASSES)

    def __init__(self, num_scenes: int, split: str = 'train', seed: int = 0, size: int = 96,
                 start: int = 0, with_label: bool = True, **kwargs) -> None:
        if split not in SCENE_SPLITS:
            raise ValueError(f'split must be one of {SCENE_SPLITS}, got {split!r}')
        if num_scenes < 1 or start < 0 or seed < 0:
            raise ValueError(f'num_scenes must be >= 1 and start, seed >= 0, got num_scenes='
                             f'{num_scenes}, start={start}, seed={seed}')
        if size < MIN_SIZE:
            raise ValueError(f'size must be >= {MIN_SIZE}, got {size}')
        if split == 'pool' and with_label:
            raise ValueError("the 'pool' split is unlabelled: pass with_label=False, or use the "
                             "'train' split for labelled scenes")
        self.num_scenes, self.split, self.seed, self.size = num_scenes, split, seed, size
        self.start, self.with_label = start, with_label
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> list[dict]:
        """One entry per scene: its index and, with labels, its main shape's class."""
        indices = range(self.start, self.start + self.num_scenes)
        if self.with_label:
            return [dict(scene_index=i, gt_label=i % len(SHAPE_CLASSES)) for i in indices]
        return [dict(scene_index=i) for i in indices]

    def get_data_info(self, idx: int) -> dict:
        """The entry of ``idx`` with its scene rendered as ``img``."""
        info = super().get_data_info(idx)
        scene = draw_dataset_scene(self.seed, self.split, info['scene_index'], self.size)
        img = scene.image[..., ::-1].copy()  # RGB -> BGR, like the file loaders
        info.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return info

    def extra_repr(self) -> list[str] | None:
        """Lines of ``repr``: where the scenes come from."""
        return [f'Scenes: {self.split} {self.start}..{self.start + self.num_scenes - 1} '
                f'(seed {self.seed}, {self.size}x{self.size}, rendered on the fly)']

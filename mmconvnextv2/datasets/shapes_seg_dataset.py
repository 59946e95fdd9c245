"""mmseg data set of the ADE20K-style layout of the bundled shapes (``<out>/ade`` of
:func:`~mmconvnextv2.datasets.shapes.write_shapes_dataset`), generated on demand."""
from mmseg.datasets import BaseSegDataset

from mmconvnextv2.registry import DATASETS

from .shapes import SHAPE_CLASSES
from .shapes_on_demand import ScenesOnDemand


@DATASETS.register_module()
class ShapesSegDataset(ScenesOnDemand, BaseSegDataset):
    """Semantic segmentation of the synthetic shapes, in the ADE20K convention.

    Label PNGs hold 0 = unlabeled, 1 = background and ``2..K+1`` = ``SHAPE_CLASSES``; with
    ``reduce_zero_label`` (the default, as for ADE20K) 0 becomes the ignore index and the classes
    are ``('background', *SHAPE_CLASSES)``.

    Args:
        img_suffix: Suffix of the images.
        seg_map_suffix: Suffix of the label maps.
        reduce_zero_label: Map label 0 to the ignore index and shift the others down by one.
        scenes: The scenes that ``data_root``, the ``ade`` folder of a shapes output, holds:
            ``dict(num_train=..., num_val=..., size=..., seed=...)``. Missing or unfinished
            scenes are generated here (see
            :func:`~mmconvnextv2.datasets.shapes_on_demand.ensure_layout_scenes`), scenes of
            other settings refused. None (the default) reads ``data_root`` as it is.
        **kwargs: Other arguments of :class:`mmseg.datasets.BaseSegDataset`, e.g. ``data_root``,
            ``data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')``
            and ``pipeline``.
    """
    layout = 'ade'
    METAINFO = dict(
        classes=('background', *SHAPE_CLASSES),
        palette=[[120, 120, 120], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
                 [245, 130, 48], [145, 30, 180]])

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True, scenes: dict | None = None, **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, scenes=scenes, **kwargs)

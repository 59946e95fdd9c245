"""Data sets of mmconvnextv2: the bundled synthetic shapes, their on-the-fly classification and
mmseg data set classes, a COCO data set that checks its annotation file (both generate the shapes
scenes they read on demand), and an image loader that names unreadable files."""
from .coco import COCO_SECTIONS, CocoDataset, check_coco_annotations
from .shapes import (DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, GENERATOR_VERSION, MANIFEST_NAME,
                     SCENE_SPLITS, SHAPE_CLASSES, SPLITS, Scene, ShapeInstance, ShapesSettingsError,
                     draw_dataset_scene, draw_scene, ensure_shapes_dataset, layout_paths, scene_rng,
                     shapes_dataset_is_complete, write_shapes_dataset)
from .shapes_cls_dataset import ShapesClsDataset
from .shapes_on_demand import SCENE_SETTINGS, ensure_layout_scenes
from .shapes_seg_dataset import ShapesSegDataset
from .transforms import ON_ERROR_CHOICES, LoadImageFromFileChecked, UnreadableImageError

__all__ = ['COCO_SECTIONS', 'DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_VAL', 'GENERATOR_VERSION',
           'MANIFEST_NAME', 'ON_ERROR_CHOICES', 'SCENE_SETTINGS', 'SCENE_SPLITS', 'SHAPE_CLASSES',
           'SPLITS', 'CocoDataset', 'LoadImageFromFileChecked', 'Scene', 'ShapeInstance',
           'ShapesClsDataset', 'ShapesSegDataset', 'ShapesSettingsError', 'UnreadableImageError',
           'check_coco_annotations', 'draw_dataset_scene', 'draw_scene', 'ensure_layout_scenes',
           'ensure_shapes_dataset', 'layout_paths', 'scene_rng', 'shapes_dataset_is_complete',
           'write_shapes_dataset']

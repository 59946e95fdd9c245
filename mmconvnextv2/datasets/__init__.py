"""Data sets of mmconvnextv2: the bundled synthetic shapes and their mmseg data set class."""
from .shapes import (DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, GENERATOR_VERSION, MANIFEST_NAME,
                     SHAPE_CLASSES, SPLITS, Scene, ShapeInstance, draw_dataset_scene, draw_scene,
                     ensure_shapes_dataset, layout_paths, scene_rng, shapes_dataset_is_complete,
                     write_shapes_dataset)
from .shapes_seg_dataset import ShapesSegDataset

__all__ = ['DEFAULT_NUM_TRAIN', 'DEFAULT_NUM_VAL', 'GENERATOR_VERSION', 'MANIFEST_NAME',
           'SHAPE_CLASSES', 'SPLITS', 'Scene', 'ShapeInstance', 'ShapesSegDataset',
           'draw_dataset_scene', 'draw_scene', 'ensure_shapes_dataset', 'layout_paths',
           'scene_rng', 'shapes_dataset_is_complete', 'write_shapes_dataset']

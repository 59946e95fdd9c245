from .analysis import AnalysedModel, compare_feature_diversity, layer_cosine_distances
from .detection import SHAPES_DETECTION_SIZE, train_test_mask_rcnn_shapes
from .runner import build_runner, load_config, set_max_epochs
from .segmentation import SegmentationRun, shapes_cfg_options, train_upernet_shapes

__all__ = ['AnalysedModel', 'SHAPES_DETECTION_SIZE', 'SegmentationRun', 'build_runner',
           'compare_feature_diversity', 'layer_cosine_distances', 'load_config',
           'set_max_epochs', 'shapes_cfg_options', 'train_test_mask_rcnn_shapes',
           'train_upernet_shapes']

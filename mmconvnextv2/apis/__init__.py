from .analysis import AnalysedModel, compare_feature_diversity, layer_cosine_distances
from .detection import SHAPES_DETECTION_SIZE
from .runner import build_runner, load_config, set_max_epochs, use_amp
from .shapes_runs import (RunResult, backbone_init, classifier_config, evaluate,
                          evaluate_classifier, evaluate_mask_rcnn, evaluate_upernet, fcmae_config,
                          last_checkpoint, mask_rcnn_config, pretrain_fcmae, train,
                          train_classifier, train_crop, train_mask_rcnn, train_upernet,
                          upernet_config, without_validation)

__all__ = ['AnalysedModel', 'RunResult', 'SHAPES_DETECTION_SIZE', 'backbone_init',
           'build_runner', 'classifier_config', 'compare_feature_diversity', 'evaluate',
           'evaluate_classifier', 'evaluate_mask_rcnn', 'evaluate_upernet', 'fcmae_config',
           'last_checkpoint', 'layer_cosine_distances', 'load_config', 'mask_rcnn_config',
           'pretrain_fcmae', 'set_max_epochs', 'train', 'train_classifier', 'train_crop',
           'train_mask_rcnn', 'train_upernet', 'upernet_config', 'use_amp', 'without_validation']

"""Feature-collapse analysis: channel cosine distance, activation statistics, hooks and images."""
from .activations import (DEAD_TOL, SATURATED_TOL, ChannelStatistics, channel_statistics,
                          plot_channel_grid)
from .block_updates import CONVNEXT_BLOCK_PATTERN, block_update_ratios, relative_update
from .cosine_distance import (DEAD_EPS, centre_channels, channel_matrix, cosine_table,
                              mean_cosine_distance, unit_channels)
from .detections import (DetectionRow, Instances, build_test_dataset, decode_segmentation,
                         detection_rows, load_detector, overlay_masks, plot_detection_rows,
                         save_detection_grid)
from .feature_diversity import AnalysedModel, compare_feature_diversity, layer_cosine_distances
from .features import (CONVNEXT_GRN_HOOK_PATTERN, CONVNEXT_MLP_HOOK_PATTERN, DEFAULT_HOOK_PATTERN,
                       backbone_forward, build_model, find_hook_points, num_extra_tokens,
                       preprocess, read_config, record_outputs)
from .images import (ImageSource, dataset_labels, fixed_size_pipeline, load_image, load_images,
                     round_robin_indices)
from .reconstructions import PANELS, reconstruction_panels, save_reconstruction_grid
from .report import LayerDistance, plot_distances, write_csv, write_json
from .training_curves import (LossCurve, epoch_mean_losses, find_loss_curve, find_training_log,
                              plot_loss_curves, read_loss_curve)

__all__ = ['AnalysedModel', 'CONVNEXT_BLOCK_PATTERN', 'CONVNEXT_GRN_HOOK_PATTERN',
           'CONVNEXT_MLP_HOOK_PATTERN', 'ChannelStatistics', 'DEAD_EPS', 'DEAD_TOL',
           'DEFAULT_HOOK_PATTERN', 'DetectionRow', 'ImageSource', 'Instances', 'LayerDistance',
           'LossCurve', 'PANELS', 'SATURATED_TOL', 'backbone_forward', 'block_update_ratios',
           'build_model', 'build_test_dataset', 'centre_channels', 'channel_matrix',
           'channel_statistics', 'compare_feature_diversity', 'cosine_table', 'dataset_labels',
           'decode_segmentation', 'detection_rows', 'epoch_mean_losses', 'find_hook_points',
           'find_loss_curve', 'find_training_log', 'fixed_size_pipeline', 'layer_cosine_distances',
           'load_detector', 'load_image', 'load_images', 'mean_cosine_distance', 'num_extra_tokens',
           'overlay_masks', 'plot_channel_grid', 'plot_detection_rows', 'plot_distances',
           'plot_loss_curves', 'preprocess', 'read_config', 'read_loss_curve',
           'reconstruction_panels', 'record_outputs', 'relative_update', 'round_robin_indices',
           'save_detection_grid', 'save_reconstruction_grid', 'unit_channels', 'write_csv',
           'write_json']

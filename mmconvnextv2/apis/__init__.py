from .analysis import AnalysedModel, compare_feature_diversity, layer_cosine_distances
from .runner import build_runner, load_config

__all__ = ['AnalysedModel', 'build_runner', 'compare_feature_diversity', 'layer_cosine_distances',
           'load_config']

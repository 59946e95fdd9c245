"""Feature-collapse analysis (paper Sec. 3.1-3.2): per-layer channel cosine distance of models.

:func:`compare_feature_diversity` is what ``tools/analysis/feature_cosine_distance.py`` and the
demo run: for each model, the average pairwise cosine distance between the channels of every
hooked layer (:mod:`~mmconvnextv2.analysis.cosine_distance`), averaged over images spread over the
classes, written as CSV, JSON and a plot of relative depth against distance.
"""
import os.path as osp
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.utils import ProgressBar
from torch import nn

from .cosine_distance import (DEAD_EPS, centre_channels, channel_matrix, mean_cosine_distance,
                              unit_channels)
from .features import (DEFAULT_HOOK_PATTERN, backbone_forward, build_model, find_hook_points,
                       num_extra_tokens, preprocess, record_outputs)
from .images import ImageSource, dataset_labels, load_images, round_robin_indices
from .report import LayerDistance, plot_distances, write_csv, write_json


@dataclass(frozen=True)
class AnalysedModel:
    """One model to analyse.

    Attributes:
        config: Its config (path or object); the model needs a ``backbone``.
        checkpoint: Its weights (``backbone.*`` keys); None analyses the random initialisation.
        label: Its name in the outputs and the plot's legend.
        hook_pattern: Its own hook points (e.g. the GRN outputs of a V2 beside the GELU outputs
            of a V1, or of itself); None takes the comparison's.
    """

    config: str | Config
    checkpoint: str | None
    label: str
    hook_pattern: str | None = None


def layer_cosine_distances(model: nn.Module, dataset: BaseDataset, indices: Sequence[int],
                           hook_pattern: str = DEFAULT_HOOK_PATTERN, batch_size: int = 16,
                           dead_eps: float = DEAD_EPS, channels_last: bool = False,
                           centre: bool = False, progress: bool = True) -> list[LayerDistance]:
    """The cosine distance of each hooked layer of ``model``, over the images ``indices``.

    Args:
        model: A model with a ``backbone`` and a ``data_preprocessor``, in eval mode.
        dataset: Items with ``inputs`` (3, H, W) uint8 BGR tensors.
        indices: The items to use.
        hook_pattern: Full-match regex of the module names whose outputs are measured.
        batch_size: Images per forward.
        dead_eps: See :func:`~mmconvnextv2.analysis.unit_channels`.
        channels_last: The hooked 4-D outputs are (B, H, W, C), as inside a ConvNeXt block.
        centre: Remove each channel's mean over the positions first
            (:func:`~mmconvnextv2.analysis.centre_channels`).
        progress: Show a progress bar.

    Returns:
        One entry per hooked layer, in network order.
    """
    if not indices:
        raise ValueError('No images to analyse.')
    names = find_hook_points(model, hook_pattern)
    extra_tokens = num_extra_tokens(model)
    device = next(model.parameters()).device
    distances: dict[str, list[torch.Tensor]] = defaultdict(list)
    dead: dict[str, list[torch.Tensor]] = defaultdict(list)
    channels: dict[str, int] = {}
    bar = ProgressBar(len(indices)) if progress else None
    with torch.no_grad(), record_outputs(model, names) as outputs:
        for start in range(0, len(indices), batch_size):
            batch = indices[start:start + batch_size]
            outputs.clear()
            backbone_forward(model, preprocess(model, load_images(dataset, batch).to(device)))
            for name in names:
                if not isinstance(outputs.get(name), torch.Tensor):
                    raise ValueError(f'{name} gave no tensor output in the forward; choose hook '
                                     'points that return one feature map (--hook-pattern).')
                x = channel_matrix(outputs[name], extra_tokens, channels_last)
                if centre:
                    x = centre_channels(x)
                channels[name] = x.shape[1]
                distances[name].append(mean_cosine_distance(x, dead_eps).cpu())
                dead[name].append(unit_channels(x, dead_eps)[1].float().mean(1).cpu())
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        print(flush=True)
    results = []
    for k, name in enumerate(names):
        values = torch.cat(distances[name]).double()
        results.append(LayerDistance(
            layer=name, depth=(k + 1) / len(names), mean=values.mean().item(),
            std=values.std(unbiased=False).item(), channels=channels[name],
            dead_fraction=torch.cat(dead[name]).double().mean().item(), images=len(values)))
    return results


def compare_feature_diversity(models: Sequence[AnalysedModel], images: ImageSource,
                              out_prefix: str, num_images: int = 1000, batch_size: int = 16,
                              hook_pattern: str = DEFAULT_HOOK_PATTERN,
                              dead_eps: float = DEAD_EPS, channels_last: bool = False,
                              centre: bool = False, seed: int = 0,
                              device: str | torch.device = 'cpu',
                              title: str = '') -> dict[str, list[LayerDistance]]:
    """Per-layer cosine distance of several models on the same images; writes CSV, JSON, PNG.

    Args:
        models: The models; their labels must differ.
        images: The image source.
        out_prefix: Outputs go to ``<out_prefix>.csv``, ``.json`` and ``.png``.
        num_images: Images taken round-robin over the classes (all when the source has fewer).
        batch_size: Images per forward.
        hook_pattern: Full-match regex of the module names to measure, for the models without
            their own; the default takes every ConvNeXt block and every ViT layer.
        dead_eps: See :func:`~mmconvnextv2.analysis.unit_channels`.
        channels_last: The hooked 4-D outputs are (B, H, W, C): the MLP features inside a
            ConvNeXt block (:data:`~mmconvnextv2.analysis.CONVNEXT_MLP_HOOK_PATTERN`).
        centre: Remove each channel's mean over the positions first
            (:func:`~mmconvnextv2.analysis.centre_channels`).
        seed: Seeds the choice of images within each class.
        device: Where the models run.
        title: The plot's title.

    Returns:
        The layers of each model, keyed by label.
    """
    labels = [model.label for model in models]
    if not models or len(set(labels)) != len(labels):
        raise ValueError(f'Give one or more models with distinct labels, got {labels}.')
    dataset = images.build()
    indices = round_robin_indices(dataset_labels(dataset), num_images, seed)
    print(f'{len(indices)} images from the {images.describe()}', flush=True)
    results: dict[str, list[LayerDistance]] = {}
    for spec in models:
        print(f'{spec.label}: {spec.checkpoint or "random initialisation"}', flush=True)
        model = build_model(spec.config, spec.checkpoint, device)
        results[spec.label] = layer_cosine_distances(model, dataset, indices,
                                                     spec.hook_pattern or hook_pattern,
                                                     batch_size, dead_eps, channels_last,
                                                     centre)
        del model
    meta = dict(
        metric='mean over images of (1/C^2) sum_ij (1 - cos(X_i, X_j)) / 2 per layer',
        dead_eps=dead_eps, hook_pattern=hook_pattern, channels_last=channels_last, centre=centre,
        images=images.describe(),
        num_images=len(indices), seed=seed,
        models=[dict(label=spec.label, checkpoint=spec.checkpoint,
                     config=spec.config if isinstance(spec.config, str) else spec.config.filename,
                     hook_pattern=spec.hook_pattern or hook_pattern)
                for spec in models])
    write_csv(results, f'{out_prefix}.csv')
    write_json(results, f'{out_prefix}.json', meta)
    plot_distances(results, f'{out_prefix}.png', title)
    print(f'wrote {out_prefix}.csv, .json and .png ({osp.abspath(out_prefix)})', flush=True)
    return results

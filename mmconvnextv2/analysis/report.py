"""Per-layer cosine-distance results: CSV, JSON and the paper-style plot."""
import csv
import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

CSV_FIELDS = ('model', 'layer', 'depth', 'mean', 'std', 'channels', 'dead_fraction', 'images')


@dataclass(frozen=True)
class LayerDistance:
    """The cosine distance of one layer of one model, over the analysed images.

    Attributes:
        layer: The hooked module's name, e.g. ``backbone.stages.2.3``.
        depth: Relative depth ``(k + 1) / L`` of the k-th of L hooked layers (0-based k).
        mean: Mean over images of the per-image distance.
        std: Population standard deviation over images.
        channels: Channels C of the layer.
        dead_fraction: Mean over images of the fraction of dead channels (see
            :mod:`mmconvnextv2.analysis.cosine_distance`).
        images: Number of images.
    """

    layer: str
    depth: float
    mean: float
    std: float
    channels: int
    dead_fraction: float
    images: int


Results = Mapping[str, Sequence[LayerDistance]]


def write_csv(results: Results, path: str) -> None:
    """One row per model and layer, columns :data:`CSV_FIELDS`."""
    _make_parent(path)
    with open(path, 'w', newline='') as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for model, layers in results.items():
            for layer in layers:
                writer.writerow(dict(model=model, **asdict(layer)))


def write_json(results: Results, path: str, meta: Mapping[str, object]) -> None:
    """``{'meta': ..., 'models': {label: [layer, ...]}}``."""
    _make_parent(path)
    models: dict[str, list[dict]] = {
        model: [asdict(layer) for layer in layers] for model, layers in results.items()}
    with open(path, 'w') as file:
        json.dump(dict(meta=dict(meta), models=models), file, indent=2)


def plot_distances(results: Results, path: str, title: str = '') -> None:
    """Relative depth against the mean distance, one line per model, saved as an image.

    Uses matplotlib's object API (no pyplot), so no display or global backend is involved.
    """
    from matplotlib.figure import Figure

    _make_parent(path)
    figure = Figure(figsize=(6.0, 4.0), dpi=120)
    axes = figure.add_subplot()
    for model, layers in results.items():
        axes.plot([layer.depth for layer in layers], [layer.mean for layer in layers],
                  marker='o', markersize=3, label=model)
    axes.set_xlabel('relative layer depth')
    axes.set_ylabel('average pairwise cosine distance')
    axes.set_xlim(0.0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)


def _make_parent(path: str) -> None:
    parent = osp.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)

"""Training-loss curves from mmengine's ``vis_data/scalars.json`` logs."""
import glob
import json
import os
import os.path as osp
from collections.abc import Mapping
from typing import NamedTuple


class LossCurve(NamedTuple):
    """The logged training loss of one run: iteration numbers and values."""

    iters: list[int]
    losses: list[float]


def read_loss_curve(scalars_json: str, key: str = 'loss') -> LossCurve:
    """The training records of an mmengine ``scalars.json`` (one JSON object per line).

    Validation records carry no ``key`` and are skipped.
    """
    curve = LossCurve([], [])
    with open(scalars_json) as f:
        for line in f:
            record = json.loads(line)
            if key in record:
                curve.iters.append(int(record.get('iter', record['step'])))
                curve.losses.append(float(record[key]))
    return curve


def epoch_mean_losses(scalars_json: str, key: str = 'loss') -> dict[int, float]:
    """The mean of the logged ``key`` values of each epoch, from an mmengine ``scalars.json``.

    Records without an ``epoch`` (iteration-based loops, validation) are skipped.
    """
    values: dict[int, list[float]] = {}
    with open(scalars_json) as f:
        for line in f:
            record = json.loads(line)
            if key in record and 'epoch' in record:
                values.setdefault(int(record['epoch']), []).append(float(record[key]))
    return {epoch: sum(losses) / len(losses) for epoch, losses in sorted(values.items())}


def find_training_log(work_dir: str, key: str = 'loss') -> str:
    """The ``scalars.json`` of the newest run in ``work_dir`` that logged training.

    A work dir holds one ``<timestamp>/vis_data/scalars.json`` per run; a test run after training
    logs no loss and is passed over.

    Raises:
        FileNotFoundError: If no run in ``work_dir`` logged ``key``.
    """
    for scalars in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')),
                          reverse=True):
        if read_loss_curve(scalars, key).iters:
            return scalars
    raise FileNotFoundError(f'No training run in {work_dir!r} logged {key!r} to '
                            "vis_data/scalars.json (is LocalVisBackend among the vis_backends?).")


def find_loss_curve(work_dir: str, key: str = 'loss') -> LossCurve:
    """The loss curve of the newest run in ``work_dir`` that logged training (see
    :func:`find_training_log`)."""
    return read_loss_curve(find_training_log(work_dir, key), key)


def plot_loss_curves(panels: Mapping[str, Mapping[str, LossCurve]], path: str,
                     title: str = '') -> str:
    """Loss against iteration, one panel per task, side by side; writes a PNG and returns it.

    Args:
        panels: Each panel's title and its runs (legend label: curve), e.g. a fine-tuning and the
            same run from scratch on the same axes.
        path: The PNG to write; its folder is created.
        title: The figure's title.

    Uses matplotlib's object API (no pyplot), so no display or global backend is involved.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.2 * len(panels), 2.8))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (panel, curves) in zip(axes[0], panels.items()):
        for label, curve in curves.items():
            ax.plot(curve.iters, curve.losses, linewidth=1.2, marker='.', markersize=3,
                    label=label)
        if len(curves) > 1:
            ax.legend(fontsize=7)
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('training loss')
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    return path

import json

import pytest
from PIL import Image

from mmconvnextv2.analysis import (LossCurve, epoch_mean_losses, find_loss_curve, find_training_log,
                                   plot_loss_curves, read_loss_curve)


def write_scalars(folder, records):
    (folder / 'vis_data').mkdir(parents=True)
    with open(folder / 'vis_data' / 'scalars.json', 'w') as f:
        f.write(''.join(json.dumps(record) + '\n' for record in records))
    return str(folder / 'vis_data' / 'scalars.json')


def test_reads_training_records_and_skips_validation(tmp_path):
    path = write_scalars(tmp_path / 'run', [
        dict(lr=0.1, loss=2.5, iter=10, epoch=1, step=10),
        dict(**{'accuracy/top1': 30.0}, step=1),
        dict(lr=0.1, loss=1.5, iter=20, epoch=2, step=20)])
    assert read_loss_curve(path) == LossCurve([10, 20], [2.5, 1.5])


def test_finds_the_newest_run_that_trained(tmp_path):
    write_scalars(tmp_path / '20260101_000000', [dict(loss=3.0, iter=1, step=1)])
    write_scalars(tmp_path / '20260101_000100', [dict(loss=2.0, iter=5, step=5)])
    write_scalars(tmp_path / '20260101_000200', [dict(**{'coco/bbox_mAP': 0.1}, step=0)])
    assert find_loss_curve(str(tmp_path)) == LossCurve([5], [2.0])
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        find_loss_curve(str(tmp_path / 'nothing'))


def test_epoch_means_average_each_epochs_logged_losses(tmp_path):
    path = write_scalars(tmp_path / 'run', [
        dict(loss=0.9, iter=20, epoch=1, step=20), dict(loss=0.7, iter=40, epoch=1, step=40),
        dict(**{'accuracy/top1': 30.0}, step=1),
        dict(loss=0.6, iter=60, epoch=2, step=60), dict(loss=0.4, iter=80, epoch=2, step=80),
        dict(loss=0.2, iter=100, epoch=2, step=100)])
    means = epoch_mean_losses(path)
    assert list(means) == [1, 2]
    assert means[1] == pytest.approx(0.8) and means[2] == pytest.approx(0.4)
    # The run that trained, not the test run logged after it.
    write_scalars(tmp_path / 'work' / '20260101_000000', [dict(loss=1.0, iter=1, epoch=1, step=1)])
    write_scalars(tmp_path / 'work' / '20260101_000100', [dict(**{'coco/bbox_mAP': 0.1}, step=0)])
    assert find_training_log(str(tmp_path / 'work')).endswith(
        '20260101_000000/vis_data/scalars.json')


def test_plot_has_one_panel_per_task(tmp_path):
    panels = {'FCMAE': {'V2': LossCurve([1, 2, 3], [1.0, 0.8, 0.6])},
              'UperNet': {'fine-tuned': LossCurve([1, 2], [2, 1]),
                          'scratch': LossCurve([1, 2], [2, 1.5])}}
    path = plot_loss_curves(panels, str(tmp_path / 'plots' / 'losses.png'), title='demo')
    width, height = Image.open(path).size
    assert (width, height) == (round(3.2 * 2 * 120), round(2.8 * 120))

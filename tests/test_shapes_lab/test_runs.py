"""The shapes runs, each against an independent reference: the held-out FCMAE loss against numpy,
``evaluate`` (tools/test.py) against the model's own predictions, a run's loss record against the
log the runner wrote, and the all-background mIoU against mmseg's IoUMetric."""
import json

import numpy as np
import pytest
import torch
from mmengine.registry import MODELS, DefaultScope
from mmseg.evaluation.metrics import IoUMetric
from PIL import Image

from mmconvnextv2.analysis import ImageSource
from mmconvnextv2.datasets import SHAPE_CLASSES, ShapesClsDataset, write_shapes_dataset
from mmconvnextv2.utils import load_config
from shapes_lab.chance import background_only_miou
from shapes_lab.configs import FCMAE_CONFIG, UPERNET_CONFIG, classifier_config
from shapes_lab.fcmae import fcmae_val_loss, val_scene_images
from shapes_lab.runs import evaluate_classifier, last_checkpoint, loss_ends, train_classifier
from shapes_lab.training import resolve_init


def build(cfg, scope: str = 'mmpretrain') -> torch.nn.Module:
    """The config's model with the config's data preprocessor, randomly initialised."""
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def test_last_checkpoint_reads_the_runs_record(tmp_path):
    with pytest.raises(FileNotFoundError, match='No checkpoint was saved'):
        last_checkpoint(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / 'epoch_3.pth')


def test_loss_ends_average_the_first_and_last_tenth():
    losses = [float(i) for i in range(25)]  # a tenth of 25 rounds up to 3
    assert loss_ends(losses) == (1.0, 23.0)
    assert loss_ends([4.0]) == (4.0, 4.0)
    with pytest.raises(ValueError, match='no loss'):
        loss_ends([])


def test_resolve_init_takes_a_folder_s_last_checkpoint(tmp_path):
    assert resolve_init(None) is None
    assert resolve_init(str(tmp_path / 'encoder.pth')) == str(tmp_path / 'encoder.pth')
    with pytest.raises(FileNotFoundError, match='No checkpoint was saved'):
        resolve_init(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_3.pth'))
    assert resolve_init(str(tmp_path)) == str(tmp_path / 'iter_3.pth')


@pytest.mark.slow  # a real training run, 3 iterations
def test_a_runs_record_is_what_its_runner_logged(tmp_path):
    run = train_classifier(str(tmp_path), test=False, max_iters=3, num_train=4, batch_size=2,
                           img_size=64, num_workers=0, precision='bfloat16',
                           cfg_options={'default_hooks.logger.interval': 1,
                                        'log_processor.window_size': 1})
    # The runner's own log of every iteration (mmengine's LocalVisBackend), read back.
    with open(f'{run.log_dir}/vis_data/scalars.json') as f:
        logged = [json.loads(line) for line in f]
    losses = [entry['loss'] for entry in logged if 'loss' in entry]
    assert run.iters == 3 and run.metrics == {}
    assert run.losses['loss'] == pytest.approx(losses, rel=1e-6) and len(losses) == 3
    assert run.params_finite and run.loss_scale is None
    assert run.optim_wrapper == 'AutocastOptimWrapper bfloat16'
    assert run.checkpoint == last_checkpoint(str(tmp_path)) and run.checkpoint.endswith('3.pth')


def normalised_patches(images: np.ndarray, p: int) -> np.ndarray:
    """(N, C, H, W) -> (N, L, p*p*C) patches, row-major over the grid, each normalised by its own
    mean and unbiased variance (eps 1e-6), in float64."""
    n, c, h, w = images.shape
    patches = images.reshape(n, c, h // p, p, w // p, p).transpose(0, 2, 4, 3, 5, 1)
    patches = patches.reshape(n, (h // p) * (w // p), p * p * c).astype(np.float64)
    mean = patches.mean(-1, keepdims=True)
    var = patches.var(-1, ddof=1, keepdims=True)
    return (patches - mean) / np.sqrt(var + 1e-6)


def test_fcmae_val_loss_matches_numpy():
    torch.manual_seed(0)
    model = build(load_config(FCMAE_CONFIG))
    raw = val_scene_images(3, 96)
    assert raw.shape == (3, 3, 96, 96) and raw.dtype == torch.uint8
    # The scenes as the classification data set gives them (BGR), in order.
    dataset = ShapesClsDataset(3, 'val', size=96, pipeline=[])
    np.testing.assert_array_equal(raw[1].permute(1, 2, 0).numpy(), dataset.get_data_info(1)['img'])

    losses = fcmae_val_loss(model, raw, seed=5)
    images = model.data_preprocessor(dict(inputs=raw.float(), data_samples=None))['inputs']
    mask = model.draw_mask(images, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        pred = model.reconstruct(images, mask).flatten(2).transpose(1, 2).double().numpy()
    target = normalised_patches(images.double().numpy(), 32)
    removed = mask.flatten(1).numpy().astype(bool)
    expected = ((pred - target) ** 2).mean(-1)[removed].mean()
    expected_zero = (target ** 2).mean(-1)[removed].mean()
    assert losses['val_loss'] == pytest.approx(expected, rel=1e-5)
    assert losses['val_loss_patch_mean'] == pytest.approx(expected_zero, rel=1e-5)
    # A normalised patch has mean square (n - 1) / n below 1, less in flat patches.
    assert losses['val_loss_patch_mean'] <= (32 * 32 * 3 - 1) / (32 * 32 * 3) + 1e-6
    assert fcmae_val_loss(model, raw, seed=5) == losses  # the same masks again


def test_background_only_miou_matches_mmseg(tmp_path):
    write_shapes_dataset(str(tmp_path), num_train=1, num_val=3, seed=0, size=64, progress=False)
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('background', *SHAPE_CLASSES))
    results = []
    for path in sorted((tmp_path / 'ade' / 'annotations' / 'validation').glob('*.png')):
        label = torch.from_numpy(np.asarray(Image.open(path)).astype(np.int64) - 1)
        label[label < 0] = 255  # reduce_zero_label: 0 (unlabelled) is ignored
        results.append(metric.intersect_and_union(torch.zeros_like(label), label,
                                                  len(SHAPE_CLASSES) + 1, 255))
    assert len(results) == 3
    expected = metric.compute_metrics(results)['mIoU']  # rounded to 2 decimals
    assert background_only_miou(str(tmp_path)) == pytest.approx(expected, abs=0.006)
    with pytest.raises(FileNotFoundError, match='ensure_shapes_dataset'):
        background_only_miou(str(tmp_path / 'missing'))


def test_image_source_takes_the_first_scenes():
    source = ImageSource(dataset_config='mmconvnextv2::convnextv2/convnextv2-atto_shapes.py',
                         num_scenes=7)
    dataset = source.build()
    assert len(dataset) == 7 and [dataset.get_data_info(i)['gt_label'] for i in (0, 6)] == [0, 0]
    assert 'first 7 scenes' in source.describe()
    with pytest.raises(ValueError, match='render their scenes'):
        ImageSource(dataset_config=UPERNET_CONFIG, num_scenes=7).build()


def test_evaluate_reports_the_models_own_accuracy(tmp_path):
    torch.manual_seed(0)
    cfg = classifier_config(str(tmp_path), num_val=12, num_workers=0)
    model = build(cfg)
    checkpoint = str(tmp_path / 'classifier.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)

    top1 = evaluate_classifier(checkpoint, str(tmp_path / 'work'), num_val=12,
                               num_workers=0)['top1']
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = ShapesClsDataset(12, 'val', size=96, test_mode=True,
                                   pipeline=cfg.test_dataloader.dataset.pipeline)
        batch = model.data_preprocessor(
            dict(inputs=[dataset[i]['inputs'] for i in range(12)], data_samples=None))
    with torch.no_grad():
        predicted = model(batch['inputs'], mode='tensor').argmax(1)
    labels = torch.arange(12) % len(SHAPE_CLASSES)  # scene i shows class i mod 6
    assert top1 == pytest.approx(100 * float((predicted == labels).double().mean()), abs=1e-4)

"""The shared helpers of the shapes runs, each against an independent reference: the held-out FCMAE
loss against numpy, the all-background mIoU against mmseg's IoUMetric, ``evaluate`` (tools/test.py)
against the model's own predictions, and the config helpers on the shipped configs."""
import numpy as np
import pytest
import torch
from mmengine.registry import MODELS, DefaultScope
from mmseg.evaluation.metrics import IoUMetric
from PIL import Image

from mmconvnextv2.analysis import ImageSource
from mmconvnextv2.apis.runner import load_config
from mmconvnextv2.apis.segmentation import background_only_miou
from mmconvnextv2.apis.shapes_runs import (FCMAE_CONFIG, MASK_RCNN_CONFIG, UPERNET_CONFIG,
                                           backbone_init, classifier_config, evaluate_classifier,
                                           fcmae_val_loss, last_checkpoint, loss_ends, train_crop,
                                           val_scene_images, without_validation)
from mmconvnextv2.datasets import SHAPE_CLASSES, ShapesClsDataset, write_shapes_dataset


def build(cfg, scope: str = 'mmpretrain') -> torch.nn.Module:
    """The config's model with the config's data preprocessor, randomly initialised."""
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def test_backbone_init_names_a_missing_checkpoint(tmp_path):
    assert backbone_init(None) is None
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        backbone_init(str(tmp_path / 'nope.pth'))
    (tmp_path / 'ok.pth').write_bytes(b'')
    assert backbone_init(str(tmp_path / 'ok.pth')) == dict(
        type='mmconvnextv2.ConvNeXtV2Pretrained', checkpoint=str(tmp_path / 'ok.pth'))


def test_classifier_config_sets_data_budget_and_start(tmp_path):
    (tmp_path / 'enc.pth').write_bytes(b'')
    cfg = classifier_config(str(tmp_path), init_checkpoint=str(tmp_path / 'enc.pth'),
                            max_epochs=4, num_train=64, num_val=12, batch_size=8, num_workers=0)
    assert cfg.train_dataloader.dataset.num_scenes == 64 and cfg.train_dataloader.batch_size == 8
    assert cfg.test_dataloader.dataset.num_scenes == cfg.val_dataloader.dataset.num_scenes == 12
    assert cfg.train_cfg.max_epochs == 4 and cfg.default_hooks.checkpoint.interval == 4
    assert cfg.model.backbone.init_cfg.checkpoint == str(tmp_path / 'enc.pth')
    assert all(cfg[f'{split}_dataloader'].num_workers == 0 for split in ('train', 'val', 'test'))
    # From scratch replaces the recipe's ConvNeXtV2Pretrained (which needs a checkpoint).
    assert classifier_config(str(tmp_path)).model.backbone.init_cfg is None

    without_validation(cfg)
    assert cfg.val_cfg is None and cfg.val_dataloader is None and cfg.val_evaluator is None
    assert cfg.test_dataloader.dataset.num_scenes == 12 and cfg.test_evaluator is not None


def test_train_crop_is_found_by_type_whatever_its_position():
    fcmae = load_config(FCMAE_CONFIG)
    assert train_crop(fcmae).type == 'RandomResizedCrop' and train_crop(fcmae).scale == 96
    train_crop(fcmae).scale = 64  # edited in place
    assert fcmae.train_dataloader.dataset.pipeline[0].scale == 64
    assert train_crop(load_config(UPERNET_CONFIG)).type == 'RandomCrop'
    with pytest.raises(ValueError, match='RandomResizedCrop or RandomCrop'):
        train_crop(load_config(MASK_RCNN_CONFIG))


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

"""The config builders of the shapes experiments on the shipped configs: each setting lands where
the runner reads it, and bad input names the problem."""
import pytest
from mmengine.runner import Runner

from mmconvnextv2.datasets import write_shapes_dataset
from mmconvnextv2.engine.optimizers import MMDET_TWO_STAGE_AUTOCAST_MODULES
from mmconvnextv2.utils import load_config
from shapes_lab.configs import (CLASSIFIER_CONFIG, FCMAE_CONFIG, MASK_RCNN_CONFIG, UPERNET_CONFIG,
                                backbone_init, classifier_config, fcmae_config, iteration_schedule,
                                mask_rcnn_config, set_precision, set_train_size, train_crop,
                                without_validation)


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


def test_train_size_renders_crops_or_resizes_and_refuses_a_cropped_resize():
    cfg = fcmae_config('unused', img_size=64)
    assert cfg.train_dataloader.dataset.size == train_crop(cfg).scale == 64
    detector = load_config(MASK_RCNN_CONFIG)
    set_train_size(detector, 64)
    (resize, ) = [step for step in detector.train_dataloader.dataset.pipeline
                  if step.type == 'RandomResize']
    assert resize.scale == (64, 64)
    with pytest.raises(ValueError, match='one RandomResize and no crop'):
        set_train_size(load_config(UPERNET_CONFIG), 64)


def test_iterations_replace_the_epochs_with_a_warm_up_and_the_full_lr(tmp_path):
    cfg = classifier_config(str(tmp_path), max_iters=30, num_train=8, batch_size=2,
                            num_workers=0, config=CLASSIFIER_CONFIG)
    assert cfg.train_cfg.to_dict() == dict(by_epoch=False, max_iters=30)
    (warmup, ) = cfg.param_scheduler
    assert (warmup.type, warmup.by_epoch, warmup.end) == ('LinearLR', False, 3)
    assert cfg.default_hooks.checkpoint.by_epoch is False
    assert cfg.default_hooks.checkpoint.interval == 30
    assert iteration_schedule(9)['param_scheduler'] is None  # no warm-up under 10 iterations
    with pytest.raises(ValueError, match='max_iters must be >= 1'):
        iteration_schedule(0)
    with pytest.raises(ValueError, match='max_epochs or max_iters, not both'):
        fcmae_config(str(tmp_path), max_epochs=2, max_iters=3)
    # The runner builds an iteration loop of that length.
    without_validation(cfg)
    loop = Runner.from_cfg(cfg).build_train_loop(cfg.train_cfg)
    assert loop.max_iters == 30


def test_precision_picks_the_wrapper_and_keeps_mmcv_ops_in_float32(tmp_path):
    cfg = load_config(CLASSIFIER_CONFIG)
    set_precision(cfg, 'float32')
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == load_config(
        CLASSIFIER_CONFIG).optim_wrapper.get('type', 'OptimWrapper')
    set_precision(cfg, 'bfloat16')
    assert cfg.optim_wrapper.type == 'mmconvnextv2.AutocastOptimWrapper'
    with pytest.raises(ValueError, match="precision must be one of"):
        set_precision(cfg, 'bf16')
    write_shapes_dataset(str(tmp_path), num_train=1, num_val=1, seed=0, size=64, progress=False)
    detector = mask_rcnn_config(str(tmp_path), str(tmp_path / 'work'), precision='bfloat16')
    assert detector.optim_wrapper.autocast_modules == list(MMDET_TWO_STAGE_AUTOCAST_MODULES)
    assert 'autocast_modules' not in mask_rcnn_config(str(tmp_path), str(tmp_path / 'work'),
                                                      ).optim_wrapper

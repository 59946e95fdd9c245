"""FCMAE pre-training -> fine-tuning with the full recipe (layer decay, EMA, mixup/cutmix, label
smoothing) from the pre-training checkpoint as it is -> multi-resolution test with tools/test.py,
on a few shapes scenes rendered at 64x64."""
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

from mmconvnextv2.datasets import draw_dataset_scene
from mmconvnextv2.utils import build_runner, load_config, load_weights_only

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
FINETUNE_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py')
LOADER = dict(batch_size=8, num_workers=0, persistent_workers=False)
NUM_SCENES = dict(train=16, val=8, test=8)


def loader_options(splits) -> dict:
    options = {}
    for split in splits:
        options[f'{split}_dataloader.dataset.num_scenes'] = NUM_SCENES[split]
        options[f'{split}_dataloader.dataset.size'] = 64
        options.update({f'{split}_dataloader.{k}': v for k, v in LOADER.items()})
    return options


def crop_to_64(cfg) -> None:
    for step in cfg.train_dataloader.dataset.pipeline:
        if step.type == 'RandomResizedCrop':
            step.scale = 64


def test_pretrain_finetune_test(tmp_path):
    # FCMAE on 16 pool scenes: 2 epochs of 2 iterations on 64x64 crops (a 2x2 patch grid).
    cfg = load_config(FCMAE_CONFIG, str(tmp_path / 'fcmae'), {
        **loader_options(['train']), 'train_dataloader.dataset.num_scenes': 16,
        'train_cfg.max_epochs': 2})
    crop_to_64(cfg)
    pretrain = build_runner(cfg)
    pretrain.train()
    encoder = {k: v.clone() for k, v in pretrain.model.backbone.state_dict().items()}
    fcmae_checkpoint = str(tmp_path / 'fcmae' / 'epoch_2.pth')

    # Fine-tuning from the FCMAE runner's checkpoint itself: 3 epochs (2 of warm-up).
    work_dir = str(tmp_path / 'finetune')
    cfg = load_config(FINETUNE_CONFIG, work_dir, {
        **loader_options(['train', 'val', 'test']),
        'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 3,
        'model.backbone.init_cfg.checkpoint': fcmae_checkpoint})
    crop_to_64(cfg)
    runner = build_runner(cfg)
    runner.train()
    assert runner.iter == 6

    # The recipe was on: mixup/cutmix, label smoothing, layer decay, EMA.
    augments = runner.model.data_preprocessor.batch_augments.augments
    assert sorted(type(a).__name__ for a in augments) == ['CutMix', 'Mixup']
    loss = runner.model.head.loss_module
    assert (type(loss).__name__, loss.label_smooth_val) == ('LabelSmoothLoss', 0.2)
    scales = [g['lr_scale'] for g in runner.optim_wrapper.optimizer.param_groups]
    assert min(scales) == pytest.approx(0.9**12) and max(scales) == 1.0
    checkpoint = load_weights_only(osp.join(work_dir, 'epoch_3.pth'))
    assert 'ema_state_dict' in checkpoint
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert all(torch.isfinite(torch.as_tensor(losses)))

    # The backbone started from the encoder: six AdamW steps of lr <= 1e-3 (each moving a weight
    # by about lr at most) stay within 1e-2 of it; a fresh initialisation (std 0.02) would not.
    trained = runner.model.backbone.state_dict()
    drift = max((trained[k] - v).abs().max().item() for k, v in encoder.items()
                if k.endswith('.weight') and v.ndim > 1)
    assert drift < 1e-2

    # tools/test.py at two resolutions, EMA weights, top-1 and top-5.
    out = tmp_path / 'metrics.json'
    options = [f'{k}={v}' for k, v in loader_options(['test']).items()]
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/test.py'), FINETUNE_CONFIG,
         osp.join(work_dir, 'epoch_3.pth'), '--work-dir', str(tmp_path / 'test'),
         '--out', str(out), '--cfg-options', *options,
         'test_cfg.type=mmconvnextv2.MultiResolutionTestLoop', 'test_cfg.resolutions=[64,96]'],
        capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert set(metrics) == {f'{size}px/accuracy/top1' for size in (64, 96)}
    # A second route: the checkpoint's averaged weights on the test scenes as drawn, resized,
    # cropped and normalised here, against each scene's main shape.
    for size in (64, 96):
        assert metrics[f'{size}px/accuracy/top1'] == pytest.approx(
            top1_by_hand(osp.join(work_dir, 'epoch_3.pth'), size), abs=1e-4)
    assert '96px/accuracy/top1' in result.stdout  # the summary tools/test.py prints


def top1_by_hand(checkpoint: str, resolution: int) -> float:
    """Top-1 (%) of the EMA weights in ``checkpoint`` on the test scenes at ``resolution``, with
    the official evaluation transform: short side to ``resolution / 0.875``, centre crop."""
    cfg = Config.fromfile(FINETUNE_CONFIG)
    model = MODELS.build(cfg.model)
    # mmengine's EMA hook saves the average as the state dict (the raw weights as
    # ema_state_dict), so that a plain load gives the averaged model.
    model.load_state_dict(load_weights_only(checkpoint)['state_dict'])
    scenes = [draw_dataset_scene(0, 'val', i, 64) for i in range(NUM_SCENES['test'])]
    side = int(resolution / 0.875)
    start = (side - resolution) // 2
    crops = [np.asarray(Image.fromarray(scene.image).resize((side, side), Image.BICUBIC))
             [start:start + resolution, start:start + resolution] for scene in scenes]
    rgb = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
    mean, std = (torch.tensor(cfg.data_preprocessor[key]).view(1, 3, 1, 1)
                 for key in ('mean', 'std'))
    with torch.no_grad():
        predicted = model.eval()((rgb - mean) / std, mode='tensor').argmax(dim=1)
    labels = torch.tensor([scene.label for scene in scenes])
    return 100.0 * (predicted == labels).double().mean().item()

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.models.heads import patchify

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SMALL = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])


def small_fcmae(**kwargs):
    cfg = dict(
        type='mmconvnextv2.FCMAE',
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch=SMALL),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=32, embed_dim=16),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead'))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def test_loss_with_batch_of_one_and_gradients_reach_encoder_and_decoder():
    """Official issue #79: small batches crashed pre-training."""
    torch.manual_seed(0)
    model = small_fcmae()
    losses = model(torch.randn(1, 3, 64, 96), [], mode='loss')
    assert set(losses) == {'loss'} and torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert model.backbone.stages[3][0].pwconv1.weight.grad.abs().sum() > 0
    assert model.neck.mask_token.grad.abs().sum() > 0


def test_loss_equals_direct_computation_on_the_drawn_mask():
    torch.manual_seed(0)
    model = small_fcmae(mask_ratio=0.5)
    images = torch.randn(2, 3, 64, 64)
    mask = model.draw_mask(images, generator=torch.Generator().manual_seed(3))
    assert mask.shape == (2, 2, 2) and mask.sum().item() == 4
    pred = model.reconstruct(images, mask).flatten(2).transpose(1, 2)
    target = patchify(images, 32)
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    removed = mask.flatten(1).bool()
    expected = (pred - target).pow(2).mean(-1)[removed].mean()
    torch.testing.assert_close(model.head.loss(model.reconstruct(images, mask), images, mask),
                               expected)


def test_bad_settings_name_the_problem():
    with pytest.raises(ValueError,
                       match=r'patch_size \(16\) must equal the encoder.s total stride'):
        small_fcmae(patch_size=16)
    with pytest.raises(ValueError, match=r'mask_ratio must be in \(0, 1\)'):
        small_fcmae(mask_ratio=1.0)
    with pytest.raises(ValueError, match='divisible by the patch size 32, got 64x80'):
        small_fcmae()(torch.randn(1, 3, 64, 80), [], mode='loss')


def test_every_fcmae_config_builds():
    paths = sorted(glob.glob(osp.join(REPO, 'configs/fcmae/*.py')))
    sizes = {osp.basename(p).split('_')[1].split('-')[1] for p in paths}
    assert sizes == {'atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge'}
    for path in paths:
        cfg = Config.fromfile(path)
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
        assert model.neck.proj.in_channels == model.backbone.channels[-1], path
        assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.95)
        if 'in1k' in path:
            assert cfg.auto_scale_lr.base_batch_size == 4096
            assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
            epochs = 1600 if '1600e' in path else 800
            assert cfg.train_cfg.max_epochs == cfg.param_scheduler[1]['end'] == epochs
            assert cfg.param_scheduler[0]['end'] == cfg.param_scheduler[1]['begin'] == 40


def test_pretraining_loss_falls_on_a_fixed_batch():
    """A few AdamW steps on four images lower the masked reconstruction loss well below the
    ~1.0 of predicting zeros for the per-patch normalised target."""
    torch.manual_seed(0)
    model = small_fcmae()
    images = torch.rand(4, 3, 64, 64) * torch.linspace(0, 1, 64)  # a horizontal ramp to learn
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model(images, [], mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, (first, last)


def test_uneven_mask_reconstructs_each_image_as_alone_and_averages_over_removed_patches():
    """Images of a batch may keep different numbers of patches: each is reconstructed as if it
    were alone, and the loss is the mean over all removed patches of the batch (the official
    ``(loss * mask).sum() / mask.sum()``)."""
    torch.manual_seed(0)
    model = small_fcmae()
    with torch.no_grad():
        for name, param in model.backbone.named_parameters():
            if '.grn.' in name:
                param.normal_(0, 0.5)  # zero at initialisation, where GRN is the identity
    images = torch.randn(3, 3, 64, 96)
    mask = torch.tensor([[[1., 0., 0.], [0., 0., 0.]],
                         [[1., 0., 1.], [0., 1., 0.]],
                         [[1., 1., 1.], [1., 0., 1.]]])  # 1, 3 and 5 of 6 patches removed
    pred = model.reconstruct(images, mask)
    alone = torch.cat([model.reconstruct(images[i:i + 1], mask[i:i + 1]) for i in range(3)])
    # Rounding only: the same sums, blocked differently for a batch of 1 and of 3. float32 sums
    # of <= 128 terms through a dozen layers stay far within 1e-4 of the outputs' scale (1e-2).
    torch.testing.assert_close(pred, alone, rtol=1e-4, atol=1e-6)
    target = patchify(images, 32)
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    errors = (alone.flatten(2).transpose(1, 2) - target).pow(2).mean(-1)
    removed = mask.flatten(1).bool()
    expected = errors[removed].mean()
    torch.testing.assert_close(model.head.loss(pred, images, mask), expected, rtol=1e-4, atol=0)

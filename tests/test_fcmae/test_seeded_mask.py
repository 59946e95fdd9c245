"""FCMAE's ``mask_seed``: each sample's mask is a function of (seed, step, dataset index) only."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.models.utils import seeded_patch_mask

SMALL = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])


def seeded_fcmae(mask_seed):
    return MODELS.build(dict(
        type='mmconvnextv2.FCMAE', mask_seed=mask_seed,
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch=SMALL),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=32, embed_dim=16),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead')))


def samples(*indices):
    return [DataSample(metainfo=dict(sample_idx=index)) for index in indices]


def test_a_sample_mask_does_not_depend_on_its_batch():
    seeds = [(0, 5, index) for index in range(6)]
    whole = seeded_patch_mask(seeds, (7, 7), 0.6)
    split = torch.cat([seeded_patch_mask(seeds[:2], (7, 7), 0.6),
                       seeded_patch_mask(seeds[5:1:-1], (7, 7), 0.6).flip(0)])
    torch.testing.assert_close(split, whole, rtol=0, atol=0)
    assert (whole.flatten(1).sum(1) == 49 - int(49 * 0.4)).all()
    assert len({tuple(row.flatten().tolist()) for row in whole}) == 6


def test_seeded_masks_are_uniform_over_patches():
    # 4000 samples of a 2x2 grid keeping 2 patches: each patch is kept with probability 1/2.
    masks = seeded_patch_mask([(1, 0, index) for index in range(4000)], (2, 2), 0.5)
    kept_rate = 1 - masks.flatten(1).mean(0)
    assert ((kept_rate - 0.5).abs() < 0.03).all(), kept_rate


def test_fcmae_mask_follows_step_and_index_and_counts_steps():
    images = torch.zeros(3, 3, 64, 96)
    first, second = seeded_fcmae(mask_seed=7), seeded_fcmae(mask_seed=7)
    mask = first.draw_seeded_mask(images, samples(4, 9, 2))
    torch.testing.assert_close(mask, seeded_patch_mask([(7, 0, 4), (7, 0, 9), (7, 0, 2)],
                                                       (2, 3), 0.6))
    assert int(first.mask_step) == 1
    # The other model draws the same masks for the same step, whatever the batch holds.
    torch.testing.assert_close(second.draw_seeded_mask(images[:1], samples(9)), mask[1:2])
    # The step is in the state dict, so a model loaded from it continues the sequence.
    second.load_state_dict(first.state_dict())
    assert int(second.mask_step) == 1
    assert 'mask_step' not in seeded_fcmae(mask_seed=None).state_dict()


def test_loss_uses_seeded_masks_and_needs_sample_indices():
    model = seeded_fcmae(mask_seed=3)
    images = torch.randn(2, 3, 64, 64)
    model(images, samples(0, 1), mode='loss')
    assert int(model.mask_step) == 1
    with pytest.raises(ValueError, match='sample_idx'):
        model(images, [DataSample(), DataSample()], mode='loss')
    with pytest.raises(ValueError, match='non-negative'):
        seeded_fcmae(mask_seed=-1)

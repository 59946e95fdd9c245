import pytest
import torch

from mmconvnextv2.models import FCMAEReconstructionHead
from mmconvnextv2.models.heads import patchify, unpatchify
from mmconvnextv2.models.utils import masking, random_patch_mask, upsample_mask


def test_mask_keeps_exactly_int_of_visible_fraction_per_sample():
    mask = random_patch_mask(5, (7, 7), 0.6, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (5, 7, 7)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask.flatten(1).eq(0).sum(1).tolist() == [int(49 * 0.4)] * 5  # 19 kept
    assert not torch.equal(mask[0], mask[1])  # drawn per sample


def test_mask_is_uniform_over_patches():
    mask = random_patch_mask(4000, (2, 2), 0.5, generator=torch.Generator().manual_seed(0))
    frequency = mask.mean(0)
    assert torch.allclose(frequency, torch.full((2, 2), 0.5), atol=0.03)


def test_mask_for_another_device_is_drawn_on_the_generators_device(monkeypatch):
    """torch refuses a CPU generator for CUDA noise: the noise comes from the generator's device
    and the mask moves to the images' device. The meta device stands in for CUDA."""
    real_rand = torch.rand
    draws = []

    def rand(*size, generator=None, device=None, **kwargs):
        drawn_on = torch.device(device if device is not None else 'cpu')
        if generator is not None:
            assert drawn_on == generator.device, f'{generator.device} generator, {drawn_on} noise'
        draws.append(real_rand(*size, generator=generator, device=device, **kwargs))
        return draws[-1]

    monkeypatch.setattr(masking.torch, 'rand', rand)
    meta = torch.device('meta')
    mask = random_patch_mask(3, (4, 5), 0.6, generator=torch.Generator().manual_seed(7),
                             device=meta)
    assert mask.device == meta and mask.shape == (3, 4, 5)
    # The noise of the meta mask is the CPU draw of the seed, and the CPU mask keeps the
    # int(20 * 0.4) = 8 patches of lowest noise in each sample.
    noise = real_rand(3, 20, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(draws[0], noise, rtol=0, atol=0)
    expected = torch.ones(3, 20).scatter_(1, noise.topk(8, largest=False).indices, 0.0)
    cpu_mask = random_patch_mask(3, (4, 5), 0.6, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(cpu_mask, expected.view(3, 4, 5), rtol=0, atol=0)
    # Without a generator the noise is drawn where the mask goes.
    assert random_patch_mask(2, (2, 2), 0.5, device=meta).device == meta
    assert draws[-1].device == meta


@pytest.mark.parametrize('ratio', [0.0, 1.0, -0.1, 1.5])
def test_mask_ratio_outside_open_interval_is_rejected(ratio):
    with pytest.raises(ValueError, match=r'mask_ratio must be in \(0, 1\)'):
        random_patch_mask(1, (7, 7), ratio)


def test_grid_that_keeps_nothing_is_rejected():
    with pytest.raises(ValueError, match='keeps no patch'):
        random_patch_mask(1, (1, 1), 0.6)


def test_upsample_is_nearest():
    mask = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    up = upsample_mask(mask, 3)
    assert up.shape == (1, 6, 6)
    assert up[0, :3, :3].eq(1).all() and up[0, :3, 3:].eq(0).all() and up[0, 3:, 3:].eq(1).all()


def test_patchify_round_trip_and_layout():
    images = torch.randn(2, 3, 64, 96)
    patches = patchify(images, 32)
    assert patches.shape == (2, 6, 32 * 32 * 3)
    # Patch (row 1, col 2) is the image block [32:64, 64:96] in (row, column, channel) order.
    torch.testing.assert_close(patches[1, 1 * 3 + 2],
                               images[1, :, 32:, 64:].permute(1, 2, 0).flatten())
    torch.testing.assert_close(unpatchify(patches, 32, (2, 3)), images)


def test_loss_is_mean_over_removed_patches_of_per_patch_mse_to_normalised_target():
    torch.manual_seed(0)
    head = FCMAEReconstructionHead(patch_size=8)
    images = torch.randn(2, 3, 16, 24)
    pred = torch.randn(2, 8 * 8 * 3, 2, 3)
    # Uneven: 3 and 1 patches removed; every removed patch of the batch weighs the same.
    mask = torch.tensor([[[1., 0., 1.], [0., 0., 1.]], [[0., 1., 0.], [0., 0., 0.]]])
    # Direct computation, patch by patch.
    errors = []
    for n in range(2):
        for i in range(2):
            for j in range(3):
                if mask[n, i, j]:
                    target = images[n, :, i * 8:(i + 1) * 8, j * 8:(j + 1) * 8]
                    target = target.permute(1, 2, 0).flatten()
                    target = (target - target.mean()) / (target.var(unbiased=True) + 1e-6).sqrt()
                    errors.append((pred[n, :, i, j] - target).pow(2).mean())
    expected = torch.stack(errors).mean()
    torch.testing.assert_close(head.loss(pred, images, mask), expected)
    raw = FCMAEReconstructionHead(patch_size=8, norm_pix=False)
    assert not torch.allclose(raw.loss(pred, images, mask), expected)

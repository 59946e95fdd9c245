import torch
from mmpretrain.registry import MODELS
from PIL import Image

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.analysis import reconstruction_panels, save_reconstruction_grid
from mmconvnextv2.models.utils import upsample_mask
from shapes_lab.cover import loss_by_shape_cover

SMALL = dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])


def small_fcmae():
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='mmconvnextv2.FCMAE',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch=SMALL),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=32, embed_dim=16),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead', norm_pix=True))).eval()


def test_pasted_panel_keeps_visible_patches_and_fills_removed_ones():
    model = small_fcmae()
    images = torch.randn(2, 3, 64, 96)
    mask = torch.tensor([[[1., 0., 1.], [0., 1., 1.]], [[0., 1., 1.], [1., 1., 0.]]])
    panels = reconstruction_panels(model, images, mask)
    removed = upsample_mask(mask, 32).unsqueeze(1).expand_as(images).bool()
    assert torch.equal(panels['original'], images)
    assert torch.equal(panels['masked'][~removed], images[~removed])
    assert (panels['masked'][removed] == 0).all()
    assert torch.equal(panels['pasted'][~removed], images[~removed])
    torch.testing.assert_close(panels['pasted'][removed], panels['reconstruction'][removed])
    # norm_pix: each reconstructed patch is mapped back to its true patch's mean.
    patch_means = panels['reconstruction'].unfold(2, 32, 32).unfold(3, 32, 32).mean((-1, -2))
    true_means = images.unfold(2, 32, 32).unfold(3, 32, 32).mean((-1, -2))
    assert not torch.allclose(patch_means, true_means, atol=1e-3)  # a prediction, not a copy
    assert (patch_means - true_means).abs().mean() < images.abs().mean()


def test_grid_has_a_row_of_four_panels_per_image(tmp_path):
    raw = torch.randint(0, 256, (3, 3, 64, 64)).float()
    path = save_reconstruction_grid(small_fcmae(), raw, str(tmp_path / 'vis' / 'grid.png'))
    image = Image.open(path)
    assert image.size == (4 * 64, 3 * 64)
    # The first panel is the input itself, BGR packed -> RGB shown.
    first = torch.from_numpy(__import__('numpy').asarray(image))[:64, :64]
    assert torch.equal(first.permute(2, 0, 1).float(), raw[0].flip(0))


def test_loss_by_shape_cover_bins_the_removed_patches_and_keeps_their_loss():
    model = small_fcmae()
    images = torch.randn(2, 3, 64, 96)
    mask = torch.tensor([[[1., 0., 1.], [0., 1., 1.]], [[0., 1., 1.], [1., 1., 0.]]])
    shapes = torch.zeros(2, 64, 96)
    shapes[0, :32, :32] = 1  # scene 0, patch (0, 0): all shape
    shapes[0, 32:40, 64:] = 1  # scene 0, patch (1, 2): a quarter
    shapes[0, :32, 32:64] = 1  # scene 0, patch (0, 1): all shape, but kept
    shapes[1, :, 40:48] = 1  # scene 1, patches (0, 1) and (1, 1): a quarter each
    bins = loss_by_shape_cover(model, images, shapes, mask)
    assert [row.count for row in bins.values()] == [4, 3, 1]  # ground, edge, inside

    pred = model.reconstruct(images, mask)
    only = torch.zeros_like(mask)
    only[0, 0, 0] = 1
    inside = bins['inside (shape >= 50 %)']
    torch.testing.assert_close(inside.loss, float(model.head.loss(pred, images, only)))
    weighted = sum(row.count * row.loss for row in bins.values()) / mask.sum()
    torch.testing.assert_close(float(weighted), float(model.head.loss(pred, images, mask)))
    # Colour only: the patch normalised as a whole, less each channel's mean, squared.
    patch = images[0, :, :32, :32]
    normalised = (patch - patch.mean()) / (patch.var() + model.head.eps).sqrt()
    residual = normalised - normalised.mean((1, 2), keepdim=True)
    torch.testing.assert_close(inside.colour_only, float(residual.pow(2).mean()))

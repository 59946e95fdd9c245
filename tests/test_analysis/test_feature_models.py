"""The per-layer analysis on tiny random models of the four kinds the paper compares.

Our ConvNeXt V2 (dense classifier and the FCMAE sparse encoder), mmpretrain's ConvNeXt (V1) and
mmpretrain's ViT (supervised and MAE). Each layer value is checked against features reached by
another route (the backbone's own outputs, or its modules called by hand) and the metric.
"""
import csv
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmconvnextv2.analysis import (CONVNEXT_MLP_HOOK_PATTERN, AnalysedModel, ImageSource,
                                   build_model, channel_matrix, compare_feature_diversity,
                                   dataset_labels, layer_cosine_distances, load_images,
                                   mean_cosine_distance, round_robin_indices)

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
ARCH = dict(depths=[1, 1, 2, 1], channels=[8, 16, 24, 32])
VIT_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
SIZE = 64


def config(model: dict, preprocessor: str = 'ClsDataPreprocessor') -> Config:
    preprocessor = dict(type=preprocessor, mean=MEAN, std=STD, to_rgb=True)
    if model['type'] == 'ImageClassifier':
        model['data_preprocessor'] = preprocessor
        return Config(dict(default_scope='mmpretrain', model=model))
    # Self-supervised configs (ours and mmpretrain's) set it at the top level.
    return Config(dict(default_scope='mmpretrain', model=model, data_preprocessor=preprocessor))


def classifier(backbone: dict, channels: int) -> Config:
    return config(dict(type='ImageClassifier', backbone=backbone,
                       head=dict(type='LinearClsHead', num_classes=2, in_channels=channels)))


MODELS = {
    'ours': classifier(dict(type='mmconvnextv2.ConvNeXtV2', arch=ARCH), 32),
    'ours_fcmae': config(dict(
        type='mmconvnextv2.FCMAE',
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch=ARCH),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=32, embed_dim=16),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead')), 'SelfSupDataPreprocessor'),
    'mmpretrain_convnext': classifier(
        dict(type='ConvNeXt', arch=dict(depths=[1, 1, 1, 1], channels=[8, 16, 24, 32])), 32),
    'mmpretrain_vit': classifier(
        dict(type='VisionTransformer', arch=VIT_ARCH, img_size=SIZE, patch_size=16,
             out_type='raw', out_indices=(0, )), 32),
    'mmpretrain_mae': config(dict(
        type='MAE',
        backbone=dict(type='MAEViT', arch=VIT_ARCH, img_size=SIZE, patch_size=16,
                      out_indices=(0, )),
        neck=dict(type='MAEPretrainDecoder', num_patches=16, patch_size=16, embed_dim=32,
                  decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2),
        head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=16,
                  loss=dict(type='PixelReconstructionLoss', criterion='L2'))),
        'SelfSupDataPreprocessor'),
}
HOOKED = {
    'ours': ['backbone.stages.0.0', 'backbone.stages.1.0', 'backbone.stages.2.0',
             'backbone.stages.2.1', 'backbone.stages.3.0'],
    'mmpretrain_convnext': [f'backbone.stages.{i}.0' for i in range(4)],
    'mmpretrain_vit': ['backbone.layers.0', 'backbone.layers.1'],
}
HOOKED['ours_fcmae'] = HOOKED['ours']
HOOKED['mmpretrain_mae'] = HOOKED['mmpretrain_vit']


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """Two classes of three random 64x64 images each."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for label in ('a', 'b'):
        (root / label).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f'{i}.png')
    return str(root)


def normalised(images: torch.Tensor) -> torch.Tensor:
    """BGR uint8 to normalised RGB, written out here rather than taken from the model."""
    rgb = images.flip(1).float()
    return (rgb - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def reference_feature(kind: str, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The checked layer's output, reached without hooks: (B, C, H, W) or (B, 1 + N, C)."""
    backbone = model.backbone
    if kind == 'ours_fcmae':  # the sparse encoder's own (gather) path, nothing masked
        mask = x.new_zeros(len(x), SIZE // 32, SIZE // 32)
        return backbone(x, mask)[-1]
    if kind in ('ours', 'mmpretrain_convnext'):  # the first two stages, module by module
        for i in range(2):
            x = backbone.stages[i](backbone.downsample_layers[i](x))
        return x
    if kind == 'mmpretrain_mae':
        return backbone(x, mask=None)[0]  # out_indices=(0,), raw tokens of layer 0
    return backbone(x)[0]


# Which hooked layer reference_feature gives.
CHECKED_LAYER = {'ours': 'backbone.stages.1.0', 'ours_fcmae': 'backbone.stages.3.0',
                 'mmpretrain_convnext': 'backbone.stages.1.0',
                 'mmpretrain_vit': 'backbone.layers.0', 'mmpretrain_mae': 'backbone.layers.0'}


@pytest.mark.parametrize('kind', list(MODELS))
def test_layer_distances_match_features_reached_without_hooks(kind, image_folder):
    torch.manual_seed(0)
    model = build_model(MODELS[kind])
    dataset = ImageSource(image_folder=image_folder, img_size=SIZE).build()
    indices = round_robin_indices(dataset_labels(dataset), 6)
    layers = layer_cosine_distances(model, dataset, indices, batch_size=4, progress=False)

    assert [layer.layer for layer in layers] == HOOKED[kind]
    np.testing.assert_allclose([layer.depth for layer in layers],
                               np.arange(1, len(layers) + 1) / len(layers))
    checked = next(layer for layer in layers if layer.layer == CHECKED_LAYER[kind])
    with torch.no_grad():
        feature = reference_feature(kind, model, normalised(load_images(dataset, indices)))
    extra_tokens = 1 if feature.dim() == 3 else 0  # the ViTs' class token
    per_image = mean_cosine_distance(channel_matrix(feature, extra_tokens)).double()
    assert checked.images == 6 and checked.channels == feature.shape[1 if feature.dim() == 4
                                                                     else 2]
    assert checked.mean == pytest.approx(per_image.mean().item(), abs=1e-6)
    assert checked.std == pytest.approx(per_image.std(unbiased=False).item(), abs=1e-6)
    assert 0.0 < checked.mean < 0.5 and checked.dead_fraction == 0.0


def test_comparison_writes_csv_json_and_plot(image_folder, tmp_path):
    models = [AnalysedModel(MODELS['ours'], None, 'V2'),
              AnalysedModel(MODELS['mmpretrain_vit'], None, 'ViT')]
    results = compare_feature_diversity(models, ImageSource(image_folder=image_folder,
                                                            img_size=SIZE),
                                        str(tmp_path / 'out'), num_images=4, batch_size=3)
    with open(tmp_path / 'out.csv') as file:
        rows = list(csv.DictReader(file))
    assert [(row['model'], row['layer']) for row in rows] == (
        [('V2', name) for name in HOOKED['ours']] + [('ViT', name) for name in
                                                     HOOKED['mmpretrain_vit']])
    assert float(rows[0]['mean']) == pytest.approx(results['V2'][0].mean)
    assert all(row['images'] == '4' for row in rows)
    saved = json.loads((tmp_path / 'out.json').read_text())
    assert saved['meta']['num_images'] == 4 and list(saved['models']) == ['V2', 'ViT']
    assert saved['models']['ViT'][1]['depth'] == 1.0
    assert (tmp_path / 'out.png').stat().st_size > 0


def test_a_model_can_bring_its_own_hook_points(image_folder, tmp_path):
    torch.manual_seed(0)
    model = build_model(MODELS['ours'])
    checkpoint = str(tmp_path / 'ours.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    grn = r'backbone\.stages\.\d+\.\d+\.grn'
    results = compare_feature_diversity(
        [AnalysedModel(MODELS['ours'], checkpoint, 'after GELU'),
         AnalysedModel(MODELS['ours'], checkpoint, 'after GRN', hook_pattern=grn)],
        ImageSource(image_folder=image_folder, img_size=SIZE), str(tmp_path / 'out'),
        num_images=2, hook_pattern=CONVNEXT_MLP_HOOK_PATTERN, channels_last=True)
    assert [layer.layer for layer in results['after GELU']] == [
        f'{name}.act' for name in HOOKED['ours']]
    assert [layer.layer for layer in results['after GRN']] == [
        f'{name}.grn' for name in HOOKED['ours']]
    # GRN starts as the identity (gamma = beta = 0): the same features, the same distances.
    np.testing.assert_allclose([layer.mean for layer in results['after GRN']],
                               [layer.mean for layer in results['after GELU']], rtol=1e-6)
    saved = json.loads((tmp_path / 'out.json').read_text())
    assert [m['hook_pattern'] for m in saved['meta']['models']] == [CONVNEXT_MLP_HOOK_PATTERN,
                                                                    grn]


def test_round_robin_takes_one_image_per_class_in_turn():
    labels = [0, 0, 0, 1, 1, 2, 0]
    chosen = round_robin_indices(labels, 5, seed=1)
    assert [labels[i] for i in chosen] == [0, 1, 2, 0, 1]
    assert len(set(chosen)) == 5
    assert sorted(round_robin_indices(labels, 100)) == list(range(7))
    assert round_robin_indices(labels, 5, seed=1) == chosen


def test_checkpoints_must_hold_the_backbone(tmp_path):
    torch.manual_seed(0)
    source = build_model(MODELS['ours_fcmae'])
    # An exported encoder: backbone keys only; the decoder is not needed for the analysis.
    encoder = {k: v for k, v in source.state_dict().items() if k.startswith('backbone.')}
    torch.save(dict(state_dict=encoder), tmp_path / 'encoder.pth')
    loaded = build_model(MODELS['ours_fcmae'], str(tmp_path / 'encoder.pth'))
    torch.testing.assert_close(loaded.backbone.stages[2][1].pwconv1.weight,
                               source.backbone.stages[2][1].pwconv1.weight)
    decoder = {k: v for k, v in source.state_dict().items() if k.startswith('neck.')}
    torch.save(dict(state_dict=decoder), tmp_path / 'decoder.pth')
    with pytest.raises(ValueError, match='lacks .* backbone weights of SparseConvNeXtV2'):
        build_model(MODELS['ours_fcmae'], str(tmp_path / 'decoder.pth'))


@pytest.mark.parametrize('kind', ['ours', 'mmpretrain_convnext'])
def test_mlp_features_inside_convnext_blocks(kind, image_folder):
    torch.manual_seed(0)
    model = build_model(MODELS[kind])
    dataset = ImageSource(image_folder=image_folder, img_size=SIZE).build()
    layers = layer_cosine_distances(model, dataset, [0, 3], CONVNEXT_MLP_HOOK_PATTERN,
                                    channels_last=True, progress=False)
    assert [layer.layer for layer in layers] == [f'{name}.act' for name in HOOKED[kind]]
    assert [layer.channels for layer in layers][:2] == [32, 64]  # 4C of stages 0 and 1
    backbone = model.backbone
    block = backbone.stages[0][0]
    dwconv = block.dwconv if kind == 'ours' else block.depthwise_conv
    pwconv1 = block.pwconv1 if kind == 'ours' else block.pointwise_conv1
    with torch.no_grad():
        x = backbone.downsample_layers[0](normalised(load_images(dataset, [0, 3])))
        y = dwconv(x).permute(0, 2, 3, 1)
        # LayerNorm over channels, written out (mmpretrain's norm wants a layout argument).
        y = torch.nn.functional.layer_norm(y, y.shape[-1:], block.norm.weight, block.norm.bias,
                                           1e-6)
        hidden = torch.nn.functional.gelu(pwconv1(y))  # (B, H, W, 4C)
    per_image = mean_cosine_distance(hidden.flatten(1, 2).transpose(1, 2)).double()
    assert layers[0].mean == pytest.approx(per_image.mean().item(), abs=1e-6)


def test_image_sources(tmp_path):
    for i in range(3):
        Image.new('RGB', (40, 30), (i, 0, 0)).save(tmp_path / f'{i}.jpg')
    flat = ImageSource(image_folder=str(tmp_path), img_size=16).build()
    assert dataset_labels(flat) == [-1, -1, -1]  # loose images: one class
    assert tuple(load_images(flat, [0, 2]).shape) == (2, 3, 16, 16)
    with pytest.raises(ValueError, match='exactly one image source'):
        ImageSource().build()
    with pytest.raises(ValueError, match='has no test_dataloader.dataset'):
        ImageSource(dataset_config=MODELS['ours'], split='test').build()

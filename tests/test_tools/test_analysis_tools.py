"""The two feature-collapse tools run end to end from the command line on tiny random models; the
values they write equal a direct computation on the same images: the model's blocks hooked here,
fed with the image files' pixels normalised by hand."""
import csv
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from PIL import Image

from mmconvnextv2.analysis import mean_cosine_distance

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
PREPROCESSOR = dict(type='ClsDataPreprocessor', mean=MEAN, std=STD, to_rgb=True)
CONVNEXT = dict(type='mmconvnextv2.ConvNeXtV2', arch=dict(depths=[1, 1, 2, 1],
                                                          channels=[8, 16, 24, 32]))
VIT = dict(type='VisionTransformer', img_size=64, patch_size=16,
           arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64))
# The tools' default hook points: every ConvNeXt block, every ViT layer.
CONVNEXT_BLOCKS = ['backbone.stages.0.0', 'backbone.stages.1.0', 'backbone.stages.2.0',
                   'backbone.stages.2.1', 'backbone.stages.3.0']
VIT_LAYERS = ['backbone.layers.0', 'backbone.layers.1']
# The images at the tools' --img-size, so that their resize and crop leave the pixels as they are.
SIDE = 64
CLASSES = ('a', 'b', 'c')
# float32 forward passes, statistics in float64.
RTOL, ATOL = 1e-5, 1e-6


def run_tool(name: str, args: list, monkeypatch) -> None:
    """Runs ``tools/analysis/<name>.py`` in this process, as its command line does."""
    path = osp.join(REPO, 'tools/analysis', f'{name}.py')
    monkeypatch.setattr(sys, 'argv', [path] + [str(a) for a in args])
    runpy.run_path(path, run_name='__main__')


def write_config(path, backbone: dict) -> str:
    Config(dict(default_scope='mmpretrain', model=dict(
        type='ImageClassifier', backbone=backbone, data_preprocessor=PREPROCESSOR,
        head=dict(type='LinearClsHead', num_classes=2, in_channels=32)))).dump(str(path))
    return str(path)


def random_model(config: str, checkpoint, seed: int) -> torch.nn.Module:
    """The config's model with seeded random weights, saved to ``checkpoint`` for the tool."""
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(Config.fromfile(config).model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return model.eval()


def pixels(path) -> torch.Tensor:
    """An image file as the normalised (1, 3, H, W) RGB input of the models."""
    rgb = torch.from_numpy(np.array(Image.open(path).convert('RGB'))).permute(2, 0, 1).float()
    return ((rgb - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None])[None]


def layer_outputs(model: torch.nn.Module, names: list[str], image) -> dict[str, torch.Tensor]:
    """The named modules' outputs for one image file: (1, C, H, W) maps or (1, 1 + N, C) tokens."""
    outputs = {}
    handles = [model.get_submodule(name).register_forward_hook(
        lambda module, args, output, name=name: outputs.__setitem__(name, output))
        for name in names]
    with torch.no_grad():
        model.backbone(pixels(image))
    for handle in handles:
        handle.remove()
    return outputs


def channels(output: torch.Tensor) -> torch.Tensor:
    """(1, C, M): a map's channels over its positions; a ViT's over its patch tokens (the class
    token dropped)."""
    return output.flatten(2) if output.dim() == 4 else output[:, 1:].transpose(1, 2)


def cosine_rows(model: torch.nn.Module, label: str, names: list[str], images: list) -> list[dict]:
    """The rows the cosine-distance tool should write for ``model`` on ``images``."""
    per_image = [layer_outputs(model, names, image) for image in images]
    rows = []
    for k, name in enumerate(names):
        x = torch.cat([channels(outputs[name]) for outputs in per_image])
        distances = mean_cosine_distance(x).double()
        norms = x.double().norm(dim=2)
        # Dead: a norm at most the tool's default 1e-6 of the image's largest channel norm.
        dead = (norms <= 1e-6 * norms.amax(dim=1, keepdim=True)).double().mean()
        rows.append(dict(model=label, layer=name, depth=(k + 1) / len(names),
                         mean=distances.mean().item(), std=distances.std(unbiased=False).item(),
                         channels=x.shape[1], dead_fraction=dead.item(), images=len(images)))
    return rows


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    for label in CLASSES:
        (tmp_path / 'images' / label).mkdir(parents=True)
        image = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / 'images' / label / '0.png')
    return tmp_path / 'images'


def test_feature_cosine_distance_cli(tmp_path, images, monkeypatch, capsys):
    convnext, vit = (write_config(tmp_path / f'{name}.py', backbone)
                     for name, backbone in (('convnext', CONVNEXT), ('vit', VIT)))
    models = {'ConvNeXt V2': (random_model(convnext, tmp_path / 'convnext.pth', 0),
                              CONVNEXT_BLOCKS),
              'ViT': (random_model(vit, tmp_path / 'vit.pth', 1), VIT_LAYERS)}
    # Two images, one per class taken round-robin in sorted order, one per batch.
    run_tool('feature_cosine_distance', [
        '--model', convnext, tmp_path / 'convnext.pth', 'ConvNeXt V2',
        '--model', vit, tmp_path / 'vit.pth', 'ViT', '--image-folder', images,
        '--img-size', SIDE, '--num-images', 2, '--batch-size', 1,
        '--out', tmp_path / 'out' / 'cos'], monkeypatch)
    with open(tmp_path / 'out' / 'cos.csv') as file:
        rows = list(csv.DictReader(file))
    written = json.loads((tmp_path / 'out' / 'cos.json').read_text())['models']

    first_two = [images / label / '0.png' for label in CLASSES[:2]]
    expected = [row for label, (model, names) in models.items()
                for row in cosine_rows(model, label, names, first_two)]
    from_json = [dict(model=label, **layer) for label, layers in written.items()
                 for layer in layers]
    for table in (rows, from_json):
        assert [(row['model'], row['layer']) for row in table] == [
            (row['model'], row['layer']) for row in expected]
        for row, reference in zip(table, expected):
            assert int(row['channels']) == reference['channels']
            assert int(row['images']) == reference['images'] == 2
            for key in ('depth', 'mean', 'std', 'dead_fraction'):
                assert float(row[key]) == pytest.approx(reference[key], rel=RTOL, abs=ATOL), key
    assert (tmp_path / 'out' / 'cos.png').stat().st_size > 0
    assert 'ConvNeXt V2' in capsys.readouterr().out


@pytest.mark.parametrize('backbone, layer, side', [(CONVNEXT, 'backbone.stages.1.0', 8),
                                                   (VIT, 'backbone.layers.1', 4)])
def test_visualize_activations_cli(tmp_path, images, monkeypatch, capsys, backbone, layer, side):
    config = write_config(tmp_path / 'model.py', backbone)
    model = random_model(config, tmp_path / 'model.pth', 0)
    image = images / 'b' / '0.png'
    run_tool('visualize_activations', [config, tmp_path / 'model.pth', '--image', image,
                                       '--img-size', SIDE, '--layer', layer, '--channels', 12,
                                       '--out-dir', tmp_path / 'act'], monkeypatch)
    stem = tmp_path / 'act' / f'activations_{layer.replace(".", "_")}'
    summary = json.loads(stem.with_suffix('.json').read_text())

    maps = channels(layer_outputs(model, [layer], image)[layer])[0].double()  # (C, M)
    assert summary['layer'] == layer and summary['channels'] == maps.shape[0]
    assert summary['map_size'] == [side, side]  # 64 px: stride 8 for stage 1, 16 per token
    mean = maps.mean(1)
    rms = maps.square().mean(1).sqrt()
    std = (maps - mean[:, None]).square().mean(1).sqrt()
    for key, reference in (('mean', mean), ('std', std), ('rms', rms)):
        np.testing.assert_allclose(summary[key], reference.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=key)
    # A random model has channels of every kind only by chance: the rules are checked as they
    # fall on these values.
    dead = rms <= 1e-2 * maps.square().mean().sqrt()
    saturated = ~dead & (std <= 0.1 * rms)
    assert summary['dead_channels'] == dead.nonzero().flatten().tolist()
    assert summary['saturated_channels'] == saturated.nonzero().flatten().tolist()
    assert summary['dead_fraction'] == pytest.approx(dead.double().mean().item())
    assert summary['saturated_fraction'] == pytest.approx(saturated.double().mean().item())
    assert stem.with_suffix('.png').stat().st_size > 0
    assert f'{layer}: {summary["channels"]} channels, dead' in capsys.readouterr().out


def test_visualize_activations_lists_layers(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path / 'model.py', CONVNEXT)
    run_tool('visualize_activations', [config, 'none', '--list-layers'], monkeypatch)
    assert capsys.readouterr().out.split() == CONVNEXT_BLOCKS

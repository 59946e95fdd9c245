"""The two feature-collapse tools run end to end from the command line on tiny random models."""
import csv
import json
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PREPROCESSOR = dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], to_rgb=True)
CONVNEXT = dict(type='mmconvnextv2.ConvNeXtV2', arch=dict(depths=[1, 1, 2, 1],
                                                          channels=[8, 16, 24, 32]))
VIT = dict(type='VisionTransformer', img_size=64, patch_size=16,
           arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64))


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


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    for label in ('a', 'b', 'c'):
        (tmp_path / 'images' / label).mkdir(parents=True)
        pixels = rng.integers(0, 256, (80, 72, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / 'images' / label / '0.png')
    return tmp_path / 'images'


def test_feature_cosine_distance_cli(tmp_path, images, monkeypatch, capsys):
    convnext = write_config(tmp_path / 'convnext.py', CONVNEXT)
    vit = write_config(tmp_path / 'vit.py', VIT)
    run_tool('feature_cosine_distance', [
        '--model', convnext, 'none', 'ConvNeXt V2', '--model', vit, 'none', 'ViT',
        '--image-folder', images, '--img-size', 64, '--num-images', 2, '--batch-size', 2,
        '--out', tmp_path / 'out' / 'cos'], monkeypatch)
    with open(tmp_path / 'out' / 'cos.csv') as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 5 + 2 and {row['images'] for row in rows} == {'2'}
    assert (tmp_path / 'out' / 'cos.png').stat().st_size > 0
    assert 'ConvNeXt V2' in capsys.readouterr().out


@pytest.mark.parametrize('backbone, layer, side', [(CONVNEXT, 'backbone.stages.1.0', 8),
                                                   (VIT, 'backbone.layers.1', 4)])
def test_visualize_activations_cli(tmp_path, images, monkeypatch, capsys, backbone, layer, side):
    config = write_config(tmp_path / 'model.py', backbone)
    run_tool('visualize_activations', [config, 'none', '--image', images / 'a' / '0.png',
                                       '--img-size', 64, '--layer', layer, '--channels', 12,
                                       '--out-dir', tmp_path / 'act'], monkeypatch)
    stem = tmp_path / 'act' / f'activations_{layer.replace(".", "_")}'
    summary = json.loads(stem.with_suffix('.json').read_text())
    assert summary['layer'] == layer and summary['channels'] in (16, 32)
    assert summary['map_size'] == [side, side]  # 64 px: stride 8 for stage 1, 16 per token
    assert len(summary['rms']) == summary['channels']
    assert 0.0 <= summary['dead_fraction'] <= 1.0 and 0.0 <= summary['saturated_fraction'] <= 1.0
    assert stem.with_suffix('.png').stat().st_size > 0
    assert f'{layer}: {summary["channels"]} channels, dead' in capsys.readouterr().out


def test_visualize_activations_lists_layers(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path / 'model.py', CONVNEXT)
    run_tool('visualize_activations', [config, 'none', '--list-layers'], monkeypatch)
    assert capsys.readouterr().out.split() == [
        'backbone.stages.0.0', 'backbone.stages.1.0', 'backbone.stages.2.0',
        'backbone.stages.2.1', 'backbone.stages.3.0']

"""The model zoo lists every official checkpoint with its official numbers, which fit our models."""
import os.path as osp

import pytest
import torch
import yaml
from torch import nn

from mmconvnextv2.models import ConvNeXtV2

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METAFILE = 'configs/convnextv2/metafile.yml'
URL = 'https://dl.fbaipublicfiles.com/convnext/convnextv2'
SIZES = ('atto', 'femto', 'pico', 'nano', 'tiny', 'base', 'large', 'huge')
# The official README's tables: top-1 (IN-1K fine-tuned at 224; IN-22K fine-tuned at a resolution),
# parameters in millions as it rounds them, GFLOPs.
TOP1_IN1K = dict(atto=76.7, femto=78.5, pico=80.3, nano=81.9, tiny=83.0, base=84.9, large=85.8,
                 huge=86.3)
TOP1_IN22K = {('nano', 224): 82.1, ('nano', 384): 83.4, ('tiny', 224): 83.9, ('tiny', 384): 85.1,
              ('base', 224): 86.8, ('base', 384): 87.7, ('large', 224): 87.3,
              ('large', 384): 88.2, ('huge', 384): 88.7, ('huge', 512): 88.9}
PARAMS_M = dict(atto='3.7', femto='5.2', pico='9.1', nano='15.6', tiny='28.6', base='89',
                large='198', huge='660')


def official_urls():
    urls = {f'{URL}/pt_only/convnextv2_{size}_1k_224_fcmae.pt' for size in SIZES}
    urls |= {f'{URL}/im1k/convnextv2_{size}_1k_224_ema.pt' for size in SIZES}
    urls |= {f'{URL}/im22k/convnextv2_{size}_22k_{res}_ema.pt' for size, res in TOP1_IN22K}
    return urls


@pytest.fixture(scope='module')
def models():
    with open(osp.join(REPO, METAFILE)) as f:
        return yaml.safe_load(f)['Models']


def multiply_adds(backbone: ConvNeXtV2, head: nn.Linear, resolution: int) -> int:
    """Multiply-adds of the convolutions and linear layers (how FLOPs are counted officially).

    Every layer of ``downsample_layers.i`` and ``stages.i`` runs at each position of stage i's
    output, side ``resolution / (4 * 2 ** i)``; per position it costs its weight count.
    """
    total = head.weight.numel()
    for name, module in backbone.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            side = resolution // (4 * 2**int(name.split('.')[1]))
            total += module.weight.numel() * side * side
    return total


def describe(url: str):
    """(kind, size, resolution) from an official file name."""
    name = url.rsplit('/', 1)[1]
    size, resolution = name.split('_')[1], int(name.split('_')[3])
    return ('fcmae' if 'pt_only' in url else 'in22k' if 'im22k' in url else 'in1k', size,
            resolution)


def test_every_official_checkpoint_is_listed_once(models):
    urls = [m['Weights'] for m in models]
    assert sorted(urls) == sorted(official_urls()) and len(urls) == 26
    with open(osp.join(REPO, 'model-index.yml')) as f:
        assert METAFILE in yaml.safe_load(f)['Import']


def test_entries_name_their_config_source_and_top1(models):
    for model in models:
        kind, size, resolution = describe(model['Weights'])
        assert osp.isfile(osp.join(REPO, model['Config'])), model['Config']
        assert size in model['Config'] and size in model['Name']
        assert model['Converted From'] == dict(
            Weights=model['Weights'], Code='https://github.com/facebookresearch/ConvNeXt-V2')
        if kind == 'fcmae':
            assert model['Results'] is None  # self-supervised: no classifier
            continue
        top1 = TOP1_IN1K[size] if kind == 'in1k' else TOP1_IN22K[size, resolution]
        assert model['Results'][0]['Metrics']['Top 1 Accuracy'] == top1
        assert (resolution == 224) == ('px' not in model['Config'])


def test_parameters_and_flops_match_our_models(models):
    for model in models:
        kind, size, resolution = describe(model['Weights'])
        with torch.device('meta'):  # shapes only
            backbone = ConvNeXtV2(arch=size)
            head = nn.Linear(backbone.channels[-1], 1000)
        # FCMAE files hold the encoder only: no final norm, no head.
        counted = [p for name, p in backbone.named_parameters()
                   if kind != 'fcmae' or not name.startswith('norm')]
        if kind != 'fcmae':
            counted += list(head.parameters())
        params = sum(p.numel() for p in counted)
        assert model['Metadata']['Parameters'] == params, model['Name']
        if kind != 'fcmae':  # the official table rounds the classifier's count
            rounded = f'{params / 1e6:.1f}' if params < 50e6 else f'{params / 1e6:.0f}'
            assert rounded == PARAMS_M[size], model['Name']
        assert model['Metadata']['FLOPs'] == pytest.approx(
            multiply_adds(backbone, head, resolution), rel=0.01), model['Name']

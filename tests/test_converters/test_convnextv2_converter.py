"""Checkpoint conversion into the mmconvnextv2 layout, checked against the source models' outputs.

Each source model (timm, HF transformers, mmpretrain, and official layouts built here from timm with
a key mapping written independently of the converter) gets random weights, is converted, and our
classifier must reproduce its logits or features.
"""
import datetime
import inspect
import os
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import timm
import torch
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS
from torch import nn

import mmconvnextv2.models  # noqa: F401  (registers ConvNeXtV2 and ConvNeXtV2ClsHead)
from mmconvnextv2.converters import convert_checkpoint, convert_state_dict, load_source
from mmconvnextv2.models import ConvNeXtV2
from mmconvnextv2.utils import load_weights_only

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / 'tools' / 'model_converters' / 'convnextv2_to_mm.py'
# transformers lives off the running venv's import path (see requirements/hf.txt).
HF_REFERENCE = Path(sys.prefix) / 'hf-reference'
ATOL = 1e-4
# atto's widths with other depths: a custom arch, passed to our model as a dict.
SMALL_ARCH = dict(depths=[2, 2, 2, 2], channels=[40, 80, 160, 320])
ATTO = ConvNeXtV2.arch_settings['atto']
FCMAE_DECODER_KEYS = ['decoder.0.dwconv.weight', 'mask_token', 'proj.weight', 'pred.weight',
                      'pred.bias']


def randomise_(model: nn.Module, seed: int) -> None:
    """Every parameter random, at scales that keep activations and logits of order one.

    Matrices get std 1/sqrt(fan_in); norm weights 1 +- 0.2; biases and GRN parameters (zero at
    initialisation, which would make GRN an identity) +- 0.2.
    """
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for name, param in model.named_parameters():
            if 'grn' in name:
                param.normal_(0.0, 0.2)
            elif param.ndim == 1:
                param.normal_(1.0 if name.endswith('weight') else 0.0, 0.2)
            else:
                param.normal_(0.0, (param.numel() // param.shape[0]) ** -0.5)


def random_timm(name: str, seed: int = 0, **kwargs) -> nn.Module:
    # Built on the meta device: timm's own initialisation of the large models takes seconds and
    # randomise_ overwrites every parameter anyway.
    with torch.device('meta'):
        model = timm.create_model(name, **kwargs)
    model.to_empty(device='cpu')
    randomise_(model, seed)
    return model.eval()


def our_classifier(arch, num_classes: int = 1000) -> nn.Module:
    setting = arch if isinstance(arch, dict) else ConvNeXtV2.arch_settings[arch]
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmconvnextv2.ConvNeXtV2', arch=arch),
        head=dict(type='mmconvnextv2.ConvNeXtV2ClsHead', num_classes=num_classes,
                  in_channels=setting['channels'][-1]))).eval()


def load_ours(arch, state_dict: dict[str, torch.Tensor], num_classes: int = 1000) -> nn.Module:
    """Our classifier holding ``state_dict``, loaded strictly (every key present and used)."""
    with torch.device('meta'):
        model = our_classifier(arch, num_classes)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model


def assert_same(ours: torch.Tensor, reference: torch.Tensor) -> None:
    # Outputs of order one, so that the absolute tolerance is a real test.
    assert reference.std() > 0.3
    torch.testing.assert_close(ours, reference, atol=ATOL, rtol=0)


def image(size: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))


def as_linear(tensor: torch.Tensor) -> torch.Tensor:
    """timm's small models use 1x1 convolutions where the official model has Linear layers."""
    return tensor.flatten(1) if tensor.ndim == 4 else tensor


def official_from_timm(timm_sd: dict[str, torch.Tensor], depths: list[int],
                       with_classifier: bool = True) -> dict[str, torch.Tensor]:
    """The official ConvNeXt-V2 layout, written out name by name (GRN as (1, 1, 1, C))."""
    official = {}
    for p in ('weight', 'bias'):
        official[f'downsample_layers.0.0.{p}'] = timm_sd[f'stem.0.{p}']
        official[f'downsample_layers.0.1.{p}'] = timm_sd[f'stem.1.{p}']
        for i in (1, 2, 3):
            official[f'downsample_layers.{i}.0.{p}'] = timm_sd[f'stages.{i}.downsample.0.{p}']
            official[f'downsample_layers.{i}.1.{p}'] = timm_sd[f'stages.{i}.downsample.1.{p}']
        for i, depth in enumerate(depths):
            for j in range(depth):
                src, dst = f'stages.{i}.blocks.{j}.', f'stages.{i}.{j}.'
                official[f'{dst}dwconv.{p}'] = timm_sd[f'{src}conv_dw.{p}']
                official[f'{dst}norm.{p}'] = timm_sd[f'{src}norm.{p}']
                official[f'{dst}pwconv1.{p}'] = as_linear(timm_sd[f'{src}mlp.fc1.{p}'])
                official[f'{dst}pwconv2.{p}'] = as_linear(timm_sd[f'{src}mlp.fc2.{p}'])
        if with_classifier:
            official[f'norm.{p}'] = timm_sd[f'head.norm.{p}']
            official[f'head.{p}'] = timm_sd[f'head.fc.{p}']
    for i, depth in enumerate(depths):
        for j in range(depth):
            official[f'stages.{i}.{j}.grn.gamma'] = timm_sd[f'stages.{i}.blocks.{j}.mlp.grn.weight'
                                                            ].reshape(1, 1, 1, -1)
            official[f'stages.{i}.{j}.grn.beta'] = timm_sd[f'stages.{i}.blocks.{j}.mlp.grn.bias'
                                                           ].reshape(1, 1, 1, -1)
    return official


def minkowski_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A dense Conv2d weight as a MinkowskiEngine kernel, offset ``b * k + a`` for row a, column b.

    (out, in, k, k) becomes (k*k, in, out); a depthwise (C, 1, k, k) becomes (k*k, C).
    """
    k = weight.shape[-1]
    depthwise = weight.shape[1] == 1
    kernel = torch.empty(k * k, *((weight.shape[0],) if depthwise else weight.shape[1::-1]))
    for a in range(k):
        for b in range(k):
            kernel[b * k + a] = weight[:, 0, a, b] if depthwise else weight[:, :, a, b].T
    return kernel


def sparse_fcmae_from_official(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The key names and shapes of the official sparse FCMAE encoder (MinkowskiEngine modules)."""
    sparse = {}
    for key, value in official.items():
        parts = key.split('.')
        if key.startswith('downsample_layers.0.'):  # the stem is a dense Conv2d and LayerNorm
            sparse[key] = value
        elif parts[0] == 'downsample_layers' and parts[2] == '0':  # MinkowskiLayerNorm
            sparse['.'.join(parts[:3] + ['ln', parts[3]])] = value
        elif parts[0] == 'downsample_layers' or parts[3] == 'dwconv':  # Minkowski convolutions
            if parts[-1] == 'weight':
                sparse['.'.join(parts[:-1] + ['kernel'])] = minkowski_kernel(value)
            else:
                sparse[key] = value.reshape(1, -1)
        elif parts[3] == 'norm':
            sparse[f'{".".join(parts[:4])}.ln.{parts[4]}'] = value
        elif parts[3] in ('pwconv1', 'pwconv2'):
            sparse[f'{".".join(parts[:4])}.linear.{parts[4]}'] = value
        else:  # GRN, (1, C) in MinkowskiGRN
            sparse[key] = value.reshape(1, -1)
    return sparse


def timm_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.forward_features(x)


def our_features(backbone: ConvNeXtV2, x: torch.Tensor) -> torch.Tensor:
    """The last stage's output before the final norm, which an FCMAE encoder does not have."""
    with torch.no_grad():
        for downsample, stage in zip(backbone.downsample_layers, backbone.stages):
            x = stage(downsample(x))
    return x


@pytest.mark.parametrize('size', list(ConvNeXtV2.arch_settings))
def test_timm_logits_match(size):
    source = random_timm(f'convnextv2_{size}')
    # base/large/huge only differ from the others in size: a smaller input keeps them fast.
    x = image(64 if size in ('atto', 'femto', 'pico', 'nano', 'tiny') else 32)
    result = convert_state_dict(source.state_dict())
    assert (result.format, result.arch, result.unmatched) == ('timm', size, [])
    ours = load_ours(size, result.state_dict)
    with torch.no_grad():
        assert_same(ours(x, mode='tensor'), source(x))


def test_timm_without_head_converts_the_backbone_only():
    source = random_timm('convnextv2_atto', num_classes=0)
    result = convert_state_dict(source.state_dict(), arch='atto')
    assert not any(key.startswith('head.') for key in result.state_dict)
    backbone = ConvNeXtV2(arch='atto').eval()
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in result.state_dict.items()})
    with torch.no_grad():
        # timm's classifier-less model returns the pooled, normalised features.
        assert_same(backbone(image())[0], source(image()))


def test_official_finetuned_checkpoint(tmp_path):
    source = random_timm('convnextv2_atto')
    src, dst = tmp_path / 'convnextv2_atto_1k_224_ema.pt', tmp_path / 'out' / 'atto.pth'
    torch.save({'model': official_from_timm(source.state_dict(), ATTO['depths'])}, src)
    result = convert_checkpoint(src, dst, arch='atto')
    assert (result.format, result.arch, result.unmatched, result.dropped) == (
        'official', 'atto', [], [])
    checkpoint = load_weights_only(dst, map_location='cpu')
    assert checkpoint['meta'] == dict(converted_from='official', source=str(src))
    with torch.no_grad():
        assert_same(load_ours('atto', checkpoint['state_dict'])(image(), mode='tensor'),
                    source(image()))


@pytest.mark.parametrize('layout', ['dense', 'sparse'])
def test_fcmae_encoder_checkpoint(layout):
    source = random_timm('convnextv2_atto')
    encoder = official_from_timm(source.state_dict(), ATTO['depths'], with_classifier=False)
    if layout == 'dense':
        encoder = {k: v.reshape(1, -1) if '.grn.' in k else v for k, v in encoder.items()}
    else:
        encoder = sparse_fcmae_from_official(encoder)
    checkpoint = {f'encoder.{k}': v for k, v in encoder.items()}
    checkpoint.update({key: torch.zeros(3) for key in FCMAE_DECODER_KEYS})
    result = convert_state_dict(checkpoint, arch='atto')
    assert (result.format, result.arch, result.unmatched) == ('fcmae', 'atto', [])
    assert sorted(result.dropped) == sorted(FCMAE_DECODER_KEYS)
    ours = our_classifier('atto')
    missing, unexpected = ours.load_state_dict(result.state_dict, strict=False)
    assert sorted(missing) == ['backbone.norm.bias', 'backbone.norm.weight', 'head.fc.bias',
                               'head.fc.weight'] and unexpected == []
    assert_same(our_features(ours.backbone, image()), timm_features(source, image()))


HF_SCRIPT = '''
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from transformers import ConvNextV2Config, ConvNextV2ForImageClassification

{randomise}

out = Path(sys.argv[1])
# HF's final LayerNorm defaults to eps 1e-12; ours, like the official model, uses 1e-6.
config = ConvNextV2Config(depths={depths}, hidden_sizes={channels}, num_labels=10,
                          layer_norm_eps=1e-6)
model = ConvNextV2ForImageClassification(config).eval()
randomise_(model, seed=3)
x = torch.randn(2, 3, 64, 64)
with torch.no_grad():
    logits = model(pixel_values=x).logits
    pooled = model.convnextv2(pixel_values=x).pooler_output
save_file({{k: v.contiguous() for k, v in model.state_dict().items()}},
          str(out / 'model.safetensors'))
torch.save(model.convnextv2.state_dict(), out / 'pytorch_model.bin')
torch.save(dict(x=x, logits=logits, pooled=pooled), out / 'reference.pt')
'''


@pytest.fixture(scope='module')
def hf_files(tmp_path_factory) -> Path:
    """A random HF ConvNextV2 classifier and its outputs, from a process that sees transformers."""
    if not hasattr(torch.utils._pytree, 'register_pytree_node'):
        pytest.skip('needs torch >= 2.2 (torch.utils._pytree.register_pytree_node), which the HF '
                    'transformers reference (requirements/hf.txt) imports')
    if not (HF_REFERENCE / 'transformers').is_dir():
        pytest.skip(f'transformers is not installed in {HF_REFERENCE} (tools/setup_env.sh does it)')
    out = tmp_path_factory.mktemp('hf')
    script = HF_SCRIPT.format(randomise=textwrap.dedent(inspect.getsource(randomise_)),
                              depths=SMALL_ARCH['depths'], channels=SMALL_ARCH['channels'])
    env = dict(os.environ, PYTHONPATH=str(HF_REFERENCE))
    subprocess.run([sys.executable, '-c', script, str(out)], env=env, check=True, timeout=120)
    return out


def test_hf_classifier_safetensors(hf_files, tmp_path):
    reference = load_weights_only(hf_files / 'reference.pt')
    result = convert_checkpoint(hf_files / 'model.safetensors', tmp_path / 'hf.pth',
                                arch=SMALL_ARCH)
    assert (result.format, result.arch, result.unmatched) == ('hf', None, [])
    assert result.depths == SMALL_ARCH['depths'] and result.channels == SMALL_ARCH['channels']
    assert any('1e-12' in note for note in result.notes)
    state_dict = load_weights_only(tmp_path / 'hf.pth')['state_dict']
    with torch.no_grad():
        logits = load_ours(SMALL_ARCH, state_dict, num_classes=10)(reference['x'], mode='tensor')
    assert_same(logits, reference['logits'])


def test_hf_model_without_classifier(hf_files):
    reference = load_weights_only(hf_files / 'reference.pt')
    result = convert_state_dict(load_source(hf_files / 'pytorch_model.bin'))
    assert result.format == 'hf' and result.unmatched == []
    backbone = ConvNeXtV2(arch=SMALL_ARCH).eval()
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in result.state_dict.items()})
    with torch.no_grad():
        assert_same(backbone(reference['x'])[0], reference['pooled'])


def mmpretrain_classifier(layer_scale_init_value: float = 0.0) -> nn.Module:
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ConvNeXt', arch=SMALL_ARCH, use_grn=True, linear_pw_conv=True,
                      layer_scale_init_value=layer_scale_init_value, gap_before_final_norm=True),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=320))).eval()


def test_mmpretrain_checkpoint(tmp_path):
    source = mmpretrain_classifier()
    randomise_(source, seed=4)
    src = tmp_path / 'mmpretrain.pth'
    torch.save(dict(meta=dict(epoch=3), state_dict=source.state_dict()), src)
    result = convert_checkpoint(src, tmp_path / 'ours.pth', arch=SMALL_ARCH)
    assert (result.format, result.unmatched) == ('mmpretrain', [])
    state_dict = load_weights_only(tmp_path / 'ours.pth')['state_dict']
    with torch.no_grad():
        assert_same(load_ours(SMALL_ARCH, state_dict, num_classes=10)(image(), mode='tensor'),
                    source(image(), mode='tensor'))


def test_mmpretrain_layer_scale_is_refused():
    state_dict = mmpretrain_classifier(layer_scale_init_value=1e-6).state_dict()
    with pytest.raises(ValueError, match=r'layer-scale parameters \(backbone\.stages\.0\.0\.gamma'):
        convert_state_dict(state_dict)


def test_convnext_v1_without_grn_is_refused():
    state_dict = random_timm('convnextv2_atto').state_dict()
    del state_dict['stages.1.blocks.0.mlp.grn.weight']
    with pytest.raises(ValueError, match=r'lacks backbone\.stages\.1\.0\.grn\.gamma'):
        convert_state_dict(state_dict)


def test_unknown_format_names_the_keys():
    state_dict = {'conv1.weight': torch.zeros(1), 'layer1.0.conv1.weight': torch.zeros(1)}
    with pytest.raises(ValueError, match=r'Cannot tell the checkpoint format .* 2 keys, e\.g\. '
                       r'conv1\.weight, layer1\.0\.conv1\.weight'):
        convert_state_dict(state_dict)


def test_unknown_keys_are_listed_not_converted():
    state_dict = random_timm('convnextv2_atto').state_dict()
    state_dict['stages.0.blocks.0.mlp.extra.weight'] = torch.ones(1)
    result = convert_state_dict(state_dict)
    assert result.unmatched == ['stages.0.blocks.0.mlp.extra.weight']
    assert len(result.state_dict) == len(state_dict) - 1


def test_shape_mismatch_names_the_key_and_both_shapes():
    state_dict = random_timm('convnextv2_atto').state_dict()
    with pytest.raises(ValueError, match=r"arch 'femto' at backbone\.downsample_layers\.0\.0\."
                       r'weight: checkpoint \(40, 3, 4, 4\) vs model \(48, 3, 4, 4\)'):
        convert_state_dict(state_dict, arch='femto')


def test_depth_mismatch_names_the_extra_blocks():
    state_dict = random_timm('convnextv2_atto').state_dict()  # 6 blocks in stage 2
    with pytest.raises(ValueError, match=r'extra keys backbone\.stages\.2\.2\.dwconv\.weight'):
        convert_state_dict(state_dict, arch=SMALL_ARCH)


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    src, dst = tmp_path / 'timm.pth', tmp_path / 'out' / 'atto.pth'
    torch.save(random_timm('convnextv2_atto').state_dict(), src)
    dst.parent.mkdir()
    dst.write_bytes(b'previous checkpoint')

    def save_then_fail(obj, f) -> None:
        f.write(b'half a checkpoint')
        raise OSError('No space left on device')

    monkeypatch.setattr(torch, 'save', save_then_fail)
    with pytest.raises(OSError, match='No space left'):
        convert_checkpoint(src, dst)
    assert list(dst.parent.iterdir()) == [dst]
    assert dst.read_bytes() == b'previous checkpoint'


def test_file_needing_full_unpickling_is_refused(tmp_path):
    src = tmp_path / 'pickled.pth'
    torch.save({'model': {}, 'date': datetime.date(2023, 1, 2)}, src)
    with pytest.raises(ValueError, match='weights-only'):
        load_source(src)


def test_cli_end_to_end_and_our_layout_passes_through(tmp_path):
    source = random_timm('convnextv2_atto')
    state_dict = source.state_dict()
    state_dict['head.extra'] = torch.ones(1)
    src, dst = tmp_path / 'timm_atto.pth', tmp_path / 'atto.pth'
    torch.save(state_dict, src)
    run = subprocess.run([sys.executable, str(CLI), str(src), str(dst), '--arch', 'atto'],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert 'format:    timm' in run.stdout and 'arch:      atto' in run.stdout
    assert f'converted: {len(state_dict) - 1} keys' in run.stdout
    assert 'unmatched keys, not converted: 1\n  head.extra' in run.stdout
    ours = our_classifier('atto')
    load_checkpoint(ours, str(dst), strict=True)  # mmengine's loader, as a config's load_from
    with torch.no_grad():
        assert_same(ours(image(), mode='tensor'), source(image()))
    again = convert_checkpoint(dst, tmp_path / 'again.pth')
    assert again.format == 'mmconvnextv2' and again.unmatched == []
    assert again.state_dict.keys() == ours.state_dict().keys()
    assert all(torch.equal(v, ours.state_dict()[k]) for k, v in again.state_dict.items())


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys, monkeypatch):
    # In process: the end-to-end test above already pays for one interpreter start.
    src = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(1)}, src)
    monkeypatch.setattr(sys, 'argv', [str(CLI), str(src), str(tmp_path / 'out.pth')])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(CLI), run_name='__main__')
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith('error: Cannot tell the checkpoint format')
    assert not (tmp_path / 'out.pth').exists()

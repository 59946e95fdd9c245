"""bf16 autocast through AutocastOptimWrapper: dtypes, agreement with float32, config builds,
``tools/train.py --amp`` and the three-model check script (official ConvNeXt-V2 issue #66)."""
import copy
import functools
import json
import os
import os.path as osp
import subprocess
import sys
from collections.abc import Callable

import pytest
import torch
from mmdet.registry import MODELS as MMDET_MODELS
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample
from torch import nn

from mmconvnextv2.engine.optimizers import MMDET_TWO_STAGE_AUTOCAST_MODULES, AutocastOptimWrapper
from mmconvnextv2.models import SPARSE_BACKENDS
from mmconvnextv2.registry import MODELS
from mmconvnextv2.utils import use_amp
from mmconvnextv2.utils.torch_compat import autocast_state

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# Relative loss difference allowed between bf16 autocast and float32 over a few steps: bf16 keeps
# 8 significant bits (relative rounding 2**-9 ~ 0.2%); the runs below differ by at most ~0.5%.
LOSS_RTOL = 2e-2


class Recorder(nn.Module):
    """``backbone`` (Linear, recording its output dtype) then ``head`` (Linear)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(8, 8)
        self.head = nn.Linear(8, 1)
        self.dtypes: list[torch.dtype] = []
        self.backbone.register_forward_hook(lambda m, a, out: self.dtypes.append(out.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        self.dtypes.append(features.dtype)  # as the rest of the model sees it
        return self.head(features)


def wrapper_for(model: nn.Module, **kwargs) -> AutocastOptimWrapper:
    return AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                device_type='cpu', **kwargs)


def test_forward_is_bf16_parameters_and_gradients_float32():
    torch.manual_seed(0)
    model = Recorder()
    wrapper = wrapper_for(model)
    before = model.backbone.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(4, 8))
    assert model.dtypes == [torch.bfloat16, torch.bfloat16] and out.dtype == torch.bfloat16
    assert not autocast_state('cpu')[0]
    wrapper.backward(out.float().pow(2).mean())
    assert all(p.dtype == p.grad.dtype == torch.float32 for p in model.parameters())
    wrapper.step()
    assert not torch.equal(model.backbone.weight, before)
    assert model.backbone.weight.dtype == torch.float32


def test_autocast_modules_limit_bf16_to_the_named_submodules():
    model = Recorder()
    wrapper = wrapper_for(model, autocast_modules=['backbone'])
    with wrapper.optim_context(model):
        out = model(torch.randn(4, 8))
        # The rest of the forward (here the head) is float32, the backbone's output returns to it.
        assert not autocast_state('cpu')[0]
    assert model.dtypes == [torch.bfloat16, torch.float32] and out.dtype == torch.float32
    # No hooks stay behind: outside the wrapper the backbone is float32.
    model.dtypes.clear()
    model(torch.randn(4, 8))
    assert model.dtypes == [torch.float32, torch.float32]


def test_a_failing_forward_leaves_autocast_off():
    model = Recorder()
    model.head = nn.Linear(5, 1)  # does not fit the backbone's output
    wrapper = wrapper_for(model, autocast_modules=['backbone'])
    with pytest.raises(RuntimeError):
        with wrapper.optim_context(model):
            model(torch.randn(4, 8))
    assert not autocast_state('cpu')[0]
    with pytest.raises(RuntimeError):
        with wrapper_for(model).optim_context(model):
            model(torch.randn(4, 8))
    assert not autocast_state('cpu')[0]


def test_mmcv_cpu_op_without_bf16_kernel_names_the_fix():
    from mmcv.ops import RoIAlign
    roi_align = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=0)
    features = nn.Conv2d(2, 2, 1)
    wrapper = wrapper_for(features)
    rois = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]])
    hint = r"(?s)BFloat16.*autocast_modules.*'roi_head\.bbox_head'"
    with pytest.raises(RuntimeError, match=hint):
        with wrapper.optim_context(features):
            roi_align(features(torch.randn(1, 2, 8, 8)), rois)


@pytest.mark.parametrize('kwargs, match', [
    (dict(dtype='float16'), "AmpOptimWrapper.*dtype='float16'"),
    (dict(device_type='npu'), "device_type in \\('cpu', 'cuda'\\)"),
    (dict(autocast_modules='backbone'), 'non-empty list'),
])
def test_invalid_arguments_are_rejected(kwargs, match):
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=match):
        AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_unknown_autocast_module_is_named():
    model = Recorder()
    with pytest.raises(AttributeError, match="no submodule 'neck'"):
        with wrapper_for(model, autocast_modules=['backbone', 'neck']).optim_context(model):
            pass


# The models below live on the CPU, also where mmengine's default device would be CUDA.
CPU_AUTOCAST = functools.partial(AutocastOptimWrapper, device_type='cpu')


def run_steps(model: nn.Module, wrapper_type: Callable[..., OptimWrapper], step: Callable,
              num_steps: int) -> list[float]:
    """Losses of ``num_steps`` AdamW steps of a copy of ``model`` through ``wrapper_type``."""
    model = copy.deepcopy(model)
    wrapper = wrapper_type(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-4))
    torch.manual_seed(0)  # the same FCMAE masks in both runs
    return [step(model, wrapper) for _ in range(num_steps)]


def randomise_grn(model: nn.Module) -> nn.Module:
    """Non-zero GRN gamma and beta, so that GRN (zero-initialised, the identity) takes part."""
    torch.manual_seed(1)
    for name, param in model.named_parameters():
        if '.grn.' in name:
            nn.init.normal_(param, std=0.5)
    return model


def assert_close_but_not_equal(bf16: list[float], fp32: list[float]) -> None:
    assert all(torch.isfinite(torch.tensor(bf16)))
    torch.testing.assert_close(torch.tensor(bf16), torch.tensor(fp32), rtol=LOSS_RTOL, atol=0)
    assert bf16 != fp32  # bf16 rounding shows: the autocast path ran


def classifier_cfg() -> dict:
    return dict(type='ImageClassifier',
                backbone=dict(type='mmconvnextv2.ConvNeXtV2', arch='atto'),
                head=dict(type='mmconvnextv2.ConvNeXtV2ClsHead', num_classes=6,
                          in_channels=320))


def test_classifier_losses_match_float32():
    torch.manual_seed(0)
    model = MODELS.build(classifier_cfg())
    model.init_weights()
    randomise_grn(model)
    data = dict(inputs=torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8),
                data_samples=[DataSample().set_gt_label(i % 6) for i in range(8)])

    def step(model: nn.Module, wrapper: OptimWrapper) -> float:
        loss = model.train_step(data, wrapper)['loss']
        assert loss.dtype == torch.float32  # the head computes the loss in float32
        return loss.item()

    fp32 = run_steps(model, OptimWrapper, step, 5)
    bf16 = run_steps(model, CPU_AUTOCAST, step, 5)
    assert fp32[-1] < fp32[0] and bf16[-1] < bf16[0]
    assert_close_but_not_equal(bf16, fp32)


@pytest.mark.parametrize('backend', SPARSE_BACKENDS)
def test_fcmae_losses_match_float32_for_every_sparse_backend(backend):
    if backend == 'spconv':
        pytest.importorskip('spconv.pytorch')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='mmconvnextv2.FCMAE',
        backbone=dict(type='mmconvnextv2.SparseConvNeXtV2', arch='atto', sparse_backend=backend),
        neck=dict(type='mmconvnextv2.FCMAEDecoder', in_channels=320, embed_dim=64, depth=1,
                  patch_size=32),
        head=dict(type='mmconvnextv2.FCMAEReconstructionHead', patch_size=32),
        mask_ratio=0.5))
    model.init_weights()
    randomise_grn(model)
    images = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(2))

    def step(model: nn.Module, wrapper: OptimWrapper) -> float:
        with wrapper.optim_context(model):  # FCMAE.loss, with the encoder's output kept
            mask = model.draw_mask(images)
            features = model.backbone(images, mask)[-1]
            loss = model.head.loss(model.neck(features, mask), images, mask)
        wrapper.update_params(loss)
        expected = torch.bfloat16 if isinstance(wrapper, AutocastOptimWrapper) else torch.float32
        assert features.dtype == expected
        return loss.item()

    fp32 = run_steps(model, OptimWrapper, step, 3)
    bf16 = run_steps(model, CPU_AUTOCAST, step, 3)
    assert_close_but_not_equal(bf16, fp32)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_builds_from_config_with_layer_decay_in_every_library_scope(scope):
    model = MODELS.build(classifier_cfg())
    cfg = dict(type='mmconvnextv2.AutocastOptimWrapper',
               optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
               constructor='mmconvnextv2.LayerDecayOptimWrapperConstructor',
               paramwise_cfg=dict(layer_decay_rate=0.9))
    if scope == 'mmdet':
        cfg['autocast_modules'] = ['backbone', 'head']
    with DefaultScope.overwrite_default_scope(scope):
        wrapper = build_optim_wrapper(model, cfg)
    assert type(wrapper) is AutocastOptimWrapper and wrapper.cast_dtype == torch.bfloat16
    scales = [group['lr_scale'] for group in wrapper.optimizer.param_groups]
    assert min(scales) == pytest.approx(0.9**12) and max(scales) == 1.0
    assert wrapper.autocast_modules == cfg.get('autocast_modules')


def test_mmdet_two_stage_modules_exist_in_the_shapes_mask_rcnn():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py'))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MMDET_MODELS.build(cfg.model)
    for name in MMDET_TWO_STAGE_AUTOCAST_MODULES:
        model.get_submodule(name)


def amp_cfg() -> Config:
    # A config written for AmpOptimWrapper, with a loss scale.
    return Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                                          optimizer=dict(type='AdamW', lr=1e-3))))


def test_train_amp_picks_bf16_autocast_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = amp_cfg()
    use_amp(cfg)
    assert cfg.optim_wrapper.type == 'mmconvnextv2.AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16' and 'loss_scale' not in cfg.optim_wrapper
    wrapper = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
    assert type(wrapper) is AutocastOptimWrapper and wrapper.device_type == 'cpu'
    with pytest.raises(ValueError, match='float16 needs CUDA'):
        use_amp(amp_cfg(), 'float16')


def test_train_amp_picks_fp16_loss_scaling_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3))))
    use_amp(cfg)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert (cfg.optim_wrapper.dtype, cfg.optim_wrapper.loss_scale) == ('float16', 'dynamic')
    cfg = amp_cfg()
    use_amp(cfg, 'bfloat16')
    assert cfg.optim_wrapper.type == 'mmconvnextv2.AutocastOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper


def test_check_script_smoke_trains_three_models_with_finite_losses(tmp_path):
    out = tmp_path / 'mixed_precision.json'
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/analysis/mixed_precision_check.py'), '--smoke',
         '--work-dir', str(tmp_path / 'work'), '--out', str(out)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert [run['model'] for run in report['runs']] == ['FCMAE', 'fine-tuning', 'Mask R-CNN']
    for run in report['runs']:
        assert run['steps'] == 3 and run['non_finite'] == 0 and run['params_finite'], run
    assert 'total wall time' in result.stdout

"""Every stage of the project on one device, each checked against a reference: the GPU check.

``tools/gpu_check.py`` is the command line; this module does the work. The stages, one or more
table rows each:

* ``backbone``: our ConvNeXt V2 classifier holding a randomised timm ``convnextv2_<arch>``'s
  weights (through :func:`~mmconvnextv2.converters.convert_state_dict`), forward and backward,
  eager and ``torch.compile``-d, in float32, bfloat16 and float16 autocast, against timm's eager
  float32 logits and gradients;
* ``sparse-equivalence``: each FCMAE sparse encoder on the device (:data:`ENCODER_CASES`: every
  backend, the ``gather`` backend with each of its depthwise paths) against the ``dense`` backend
  on the CPU, float32 with TF32 off, outputs and gradients;
* ``fcmae``: one training step of each of those encoders and of the dense backbone on the whole
  image at mask ratio 0.6, time and memory
  (:func:`~mmconvnextv2.analysis.encoder_benchmark.time_encoders`, as
  ``tools/analysis/benchmark_fcmae.py``);
* ``finetune-amp``: training steps of the shapes fine-tuning recipe's classifier under the mixed
  precision ``tools/train.py --amp`` picks (float16 with dynamic loss scaling on CUDA, bfloat16
  on the CPU): every loss finite;
* ``mask-rcnn``: Mask R-CNN trained a few iterations on the shapes scenes, then tested: COCO APs;
* ``upernet``: UperNet likewise: mIoU.

A row is ``ok`` when its numbers are finite and within their limits, ``fail`` otherwise, and
``error`` (with the exception) when it raised; one row's error does not stop the others. A row
that this installation cannot run on the device is ``unavailable``, with the reason and the fix
(mmcv without CUDA kernels, spconv missing or its CPU-only wheel on CUDA, row kernels that do not
compile): a failure, since the check has then not checked what it names. ``skip`` is kept for
rows that do not apply by design (float16 autocast on the CPU, which trains in bfloat16; bfloat16
on a GPU without it). The check passes when every row is ``ok`` or ``skip``.
"""
import math
import os.path as osp
import platform
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from mmconvnextv2.analysis.classifier_benchmark import build_timm
from mmconvnextv2.analysis.encoder_benchmark import (FULL, build_encoders, encoder_name,
                                                     time_encoders)
from mmconvnextv2.analysis.timing import summarize, time_call
from mmconvnextv2.converters import convert_state_dict
from mmconvnextv2.datasets import ensure_shapes_dataset
from mmconvnextv2.models import ConvNeXtV2, SparseConvNeXtV2
from mmconvnextv2.models.backbones.row_depthwise import fused_kernels
from mmconvnextv2.models.utils import random_patch_mask

from .runner import load_config, use_amp
from .shapes_runs import CLASSIFIER_CONFIG, train_mask_rcnn, train_upernet

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGES = ('backbone', 'sparse-equivalence', 'fcmae', 'finetune-amp', 'mask-rcnn', 'upernet')
OK, FAIL, SKIP, UNAVAILABLE, ERROR = 'ok', 'fail', 'skip', 'unavailable', 'error'
# The statuses of a passing check.
PASSING = (OK, SKIP)
MASK_RATIO = 0.6
# The sparse encoders of the sparse-equivalence and fcmae stages: (backend, depthwise), each
# 'gather' depthwise path on its own, so that the one 'auto' does not take is checked too.
ENCODER_CASES = (('dense', 'auto'), ('gather', 'rows'), ('gather', 'full_map'),
                 ('spconv', 'auto'))
# What the fcmae rows show of each encoder's timing and memory.
FCMAE_METRICS = ('median_ms', 'iqr_ms', 'activation_mb', 'peak_mb')
# Unit roundoff of each compute dtype.
ROUNDOFF = {torch.float32: 2.0**-24, torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}
# Error limits relative to the reference's largest magnitude. float32: the reductions of these
# models sum at most a few thousand terms, so float32 roundoff (6e-8) stays well below 1e-4; TF32
# (10-bit mantissa, 1e-3) would not, and is off for every float32 comparison. Autocast: each of
# the ~40 convolution and linear layers of atto rounds its inputs to the dtype, about one unit
# roundoff u each; the LayerNorms and GRN rescale rather than amplify, so the errors add up to
# about sqrt(40) u ~ 6u for the logits: the limit is 32u. Gradients pass the same layers twice
# (backward products of rounded activations and rounded incoming gradients): 64u.
FP32_LIMIT = 1e-4
LOGITS_ROUNDOFFS, GRADS_ROUNDOFFS = 32, 64
AMP_DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


@dataclass(frozen=True)
class CheckSizes:
    """How big each stage runs.

    Attributes:
        arch: The ConvNeXt V2 size of the backbone, FCMAE and equivalence stages (timm has it).
        batch_size: Images per step of the backbone and FCMAE stages.
        img_size: Their image side (a multiple of 32).
        repeats: Timed steps per measurement, after ``warmup`` untimed ones.
        warmup: Untimed steps.
        compile_backend: ``torch.compile`` backend of the backbone stage.
        det_iters: Mask R-CNN training iterations (one epoch of ``det_iters * det_batch`` scenes).
        det_batch: Mask R-CNN training batch.
        seg_iters: UperNet training iterations.
        seg_batch: UperNet training batch.
        test_scenes: Scenes the detector and the segmentor are tested on.
        scene_size: Side of the generated shapes scenes.
        amp_steps: Mixed-precision fine-tuning steps.
        amp_batch: Their batch.
        amp_img_size: Their image side.
        workers: Data loading processes of the runners (0: in the main process).
    """
    arch: str
    batch_size: int
    img_size: int
    repeats: int
    warmup: int
    compile_backend: str
    det_iters: int
    det_batch: int
    seg_iters: int
    seg_batch: int
    test_scenes: int
    scene_size: int
    amp_steps: int
    amp_batch: int
    amp_img_size: int
    workers: int


# The check on a GPU: minutes (docs/gpu.md).
FULL_SIZES = CheckSizes(arch='atto', batch_size=32, img_size=224, repeats=10, warmup=3,
                        compile_backend='inductor', det_iters=20, det_batch=8, seg_iters=20,
                        seg_batch=8, test_scenes=16, scene_size=320, amp_steps=20, amp_batch=32,
                        amp_img_size=224, workers=2)
# --quick: every stage at toy sizes, under a minute on 2 CPU cores. Inductor alone would compile
# for longer than that: the 'eager' backend captures the same graphs with dynamo (graph breaks and
# unsupported code show) and runs them without generating code.
QUICK_SIZES = CheckSizes(arch='atto', batch_size=2, img_size=64, repeats=2, warmup=1,
                         compile_backend='eager', det_iters=2, det_batch=2, seg_iters=2,
                         seg_batch=2, test_scenes=2, scene_size=64, amp_steps=3, amp_batch=4,
                         amp_img_size=64, workers=0)


@dataclass
class CheckRow:
    """One line of the check's table.

    Attributes:
        stage: One of :data:`STAGES`.
        case: What of the stage, e.g. ``'eager bf16'`` or ``'gather rows'``.
        status: ``'ok'``, ``'fail'``, ``'skip'``, ``'unavailable'`` or ``'error'`` (module
            docstring).
        metrics: The measured numbers.
        limits: Upper limits of some metrics; a metric above its limit fails the row.
        note: Why a row was skipped, is unavailable or raised, or what its numbers mean.
    """
    stage: str
    case: str
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    note: str = ''


def judged(stage: str, case: str, metrics: dict[str, float], limits: dict[str, float],
           note: str = '', bounds: dict[str, tuple[float, float]] | None = None) -> CheckRow:
    """A row whose status follows from its numbers.

    Args:
        stage: The stage.
        case: The case.
        metrics: The numbers; every one must be finite.
        limits: Upper limits of some of them.
        note: Remarks for the table.
        bounds: Closed ranges some metrics must lie in (e.g. an AP in [-1, 1]).

    Returns:
        An ``'ok'`` row, or a ``'fail'`` row whose note names the offending metrics.
    """
    bad = [name for name, value in metrics.items() if not math.isfinite(value)]
    bad += [name for name, limit in limits.items() if metrics[name] > limit]
    bad += [name for name, (low, high) in (bounds or {}).items()
            if not low <= metrics[name] <= high]
    if bad:
        note = f'out of range: {", ".join(sorted(set(bad)))}' + (f'; {note}' if note else '')
    return CheckRow(stage, case, FAIL if bad else OK, metrics, limits, note)


@contextmanager
def exact_float32() -> Iterator[None]:
    """Turns TF32 off for CUDA matmuls and convolutions, as float32 comparisons need."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def relative_error(actual: torch.Tensor, reference: torch.Tensor) -> float:
    """``max |actual - reference| / max |reference|``, computed in float64 on the CPU."""
    actual, reference = actual.detach().double().cpu(), reference.detach().double().cpu()
    return float((actual - reference).abs().max() / reference.abs().max().clamp_min(1e-30))


def largest_relative_error(actual: dict[str, torch.Tensor],
                           reference: dict[str, torch.Tensor]) -> float:
    """The largest :func:`relative_error` over the tensors of ``reference``, matched by name."""
    missing = sorted(set(reference) - set(actual))
    if missing:
        raise KeyError(f'No tensor to compare with the reference for {missing}.')
    return max(relative_error(actual[name], ref) for name, ref in reference.items())


def randomise_(model: nn.Module, seed: int) -> nn.Module:
    """Every parameter random at scales that keep activations of order one, GRN included.

    GRN's parameters start at zero, which makes GRN an identity that a comparison cannot check.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'grn' in name:
                values = torch.randn(param.shape, generator=generator) * 0.2
            elif param.ndim == 1:
                values = torch.randn(param.shape, generator=generator) * 0.2
                values += 1.0 if name.endswith('weight') else 0.0
            else:
                values = torch.randn(param.shape, generator=generator)
                values *= (param.numel() // param.shape[0]) ** -0.5
            param.copy_(values)
    return model


def spconv_unavailable(device: torch.device) -> str | None:
    """Why the ``spconv`` backend cannot run on ``device``, or None when it can.

    spconv is part of the project's environment on every device (``requirements/spconv.txt``,
    the CPU wheel on a CPU machine), so a missing one makes the row unavailable on the CPU too.
    """
    try:
        import spconv
        from spconv.cppconstants import CPU_ONLY_BUILD
    except ImportError as error:
        return (f'spconv is not installed ({error}): tools/setup_env.sh installs it (the CPU '
                'wheel, or spconv-cu126 on a GPU machine); offline, bring its wheels '
                '(docs/gpu.md)')
    if device.type == 'cuda' and CPU_ONLY_BUILD:
        return (f'spconv {spconv.__version__} is the CPU-only wheel: CUDA needs a CUDA wheel such '
                'as spconv-cu126 (pip uninstall spconv cumm, then pip install spconv-cu126; '
                'tools/setup_env.sh does this on a GPU machine)')
    return None


def row_kernels_unavailable(device: torch.device) -> str | None:
    """Why the row depthwise kernels do not compile on ``device``, or None when they do."""
    if fused_kernels(device.type) is None:
        return (f'torch.compile of the row depthwise conv failed on {device.type} (the warning '
                'above says why): it needs triton on CUDA (part of the CUDA builds of torch on '
                'PyPI), a C++ compiler on the CPU')
    return None


def encoders_unavailable(device: torch.device) -> dict[str, str]:
    """Why each of the :data:`ENCODER_CASES` that ``device`` cannot run cannot, by name."""
    reasons = {'spconv': spconv_unavailable(device),
               encoder_name('gather', 'rows'): row_kernels_unavailable(device)}
    return {name: reason for name, reason in reasons.items() if reason}


def unavailable_rows(stage: str, reasons: dict[str, str]) -> list[CheckRow]:
    """An ``'unavailable'`` row per case of ``reasons`` (case name to reason)."""
    return [CheckRow(stage, case, UNAVAILABLE, note=reason) for case, reason in reasons.items()]


def backbone_skip_reason(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why the backbone stage skips autocast in ``dtype`` on ``device``, or None."""
    if dtype == torch.float16 and device.type == 'cpu':
        return 'float16 autocast is the CUDA recipe; the CPU trains in bfloat16 (tools/train.py)'
    if dtype == torch.bfloat16 and device.type == 'cuda' and not torch.cuda.is_bf16_supported():
        return 'this GPU has no bfloat16'
    return None


def our_classifier(arch: str) -> nn.Module:
    """Our mmpretrain classifier (ConvNeXt V2 backbone and head) of ``arch``, 1000 classes."""
    from mmpretrain.registry import MODELS
    channels = ConvNeXtV2.arch_settings[arch]['channels'][-1]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='mmconvnextv2.ConvNeXtV2', arch=arch),
            head=dict(type='mmconvnextv2.ConvNeXtV2ClsHead', num_classes=1000,
                      in_channels=channels)))


def classifier_step(model: Callable[[torch.Tensor], torch.Tensor], params: nn.Module,
                    images: torch.Tensor, labels: torch.Tensor,
                    dtype: torch.dtype) -> torch.Tensor:
    """Forward (under autocast unless float32), cross-entropy, backward into ``params``' grads.

    Returns:
        The logits, as float32.
    """
    params.zero_grad(set_to_none=True)
    with torch.autocast(images.device.type, dtype=dtype, enabled=dtype != torch.float32):
        logits = model(images)
    F.cross_entropy(logits.float(), labels).backward()
    return logits.detach().float()


def gradients(params: nn.Module) -> dict[str, torch.Tensor]:
    """The gradients of ``params`` by parameter name."""
    return {name: param.grad.detach().clone() for name, param in params.named_parameters()}


def check_backbone(device: torch.device, sizes: CheckSizes) -> list[CheckRow]:
    """Our classifier against timm's, eager and compiled, in float32 and under autocast."""
    torch.manual_seed(0)
    reference = randomise_(build_timm(sizes.arch, channels_last=False), seed=0)
    ours = our_classifier(sizes.arch)
    ours.load_state_dict(convert_state_dict(reference.state_dict(), arch=sizes.arch).state_dict)
    reference, ours = reference.to(device).train(), ours.to(device).train()
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(sizes.batch_size, 3, sizes.img_size, sizes.img_size,
                         generator=generator).to(device)
    labels = torch.randint(0, 1000, (sizes.batch_size, ), generator=generator).to(device)
    with exact_float32():
        ref_logits = classifier_step(reference, reference, images, labels, torch.float32)
    # timm's gradients under our names: the converter maps them as it maps the weights.
    ref_grads = convert_state_dict(gradients(reference), fmt='timm').state_dict

    def run_ours(mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
        return ours if mode == 'eager' else torch.compile(ours, backend=sizes.compile_backend)

    rows = []
    for mode in ('eager', 'compile'):
        model = run_ours(mode)
        for name, dtype in AMP_DTYPES.items():
            case = f'{mode} {name}'
            reason = backbone_skip_reason(device, dtype)
            if reason:
                rows.append(CheckRow('backbone', case, SKIP, note=reason))
                continue
            rows.append(_backbone_row(case, model, ours, reference, images, labels, dtype,
                                      (ref_logits, ref_grads), sizes, device))
    return rows


def _backbone_row(case: str, model: Callable, ours: nn.Module, reference: nn.Module,
                  images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype,
                  truth: tuple[torch.Tensor, dict[str, torch.Tensor]], sizes: CheckSizes,
                  device: torch.device) -> CheckRow:
    """One (mode, dtype) case of :func:`check_backbone`: errors against timm's float32, timing."""
    ref_logits, ref_grads = truth
    with exact_float32():
        start = time.perf_counter()
        logits = classifier_step(model, ours, images, labels, dtype)
        first_s = time.perf_counter() - start
        metrics = {'logits_err': relative_error(logits, ref_logits),
                   'grads_err': largest_relative_error(gradients(ours), ref_grads)}
        if dtype == torch.float32:
            limits = {'logits_err': FP32_LIMIT, 'grads_err': FP32_LIMIT}
        else:
            limits = {'logits_err': LOGITS_ROUNDOFFS * ROUNDOFF[dtype],
                      'grads_err': GRADS_ROUNDOFFS * ROUNDOFF[dtype]}
            # timm's own error in the same dtype, for scale.
            timm_logits = classifier_step(reference, reference, images, labels, dtype)
            metrics['timm_logits_err'] = relative_error(timm_logits, ref_logits)
        for _ in range(sizes.warmup):
            classifier_step(model, ours, images, labels, dtype)
        times = [time_call(lambda: classifier_step(model, ours, images, labels, dtype),
                           device)[0] for _ in range(sizes.repeats)]
    metrics.update(step_ms=summarize(times)['median_ms'], first_call_s=first_s)
    note = f'{sizes.compile_backend} backend' if case.startswith('compile') else ''
    return judged('backbone', case, metrics, limits, note)


def check_sparse_equivalence(device: torch.device, sizes: CheckSizes) -> list[CheckRow]:
    """Each of the :data:`ENCODER_CASES` on ``device`` against ``dense`` on the CPU, float32 with
    TF32 off."""
    torch.manual_seed(0)
    dense = ConvNeXtV2(arch=sizes.arch, with_out_norms=False)
    dense.init_weights()
    weights = randomise_(dense, seed=2).state_dict()
    generator = torch.Generator().manual_seed(3)
    images = torch.randn(2, 3, sizes.img_size, sizes.img_size + 32, generator=generator)
    mask = random_patch_mask(2, (sizes.img_size // 32, sizes.img_size // 32 + 1), MASK_RATIO,
                             generator=generator)
    # float32: GRN takes its norm in float32 (under autocast too), so float64 is not an option.
    with exact_float32():
        ref_outs, ref_grads = _encoder_pass(sizes.arch, ('dense', 'auto'), weights, images, mask,
                                            torch.device('cpu'))
    unavailable = encoders_unavailable(device)
    rows = unavailable_rows('sparse-equivalence', unavailable)
    for case in ENCODER_CASES:
        name = encoder_name(*case)
        if name in unavailable:
            continue
        with exact_float32():
            outs, grads = _encoder_pass(sizes.arch, case, weights, images, mask, device)
        metrics = {'outputs_err': largest_relative_error(outs, ref_outs),
                   'grads_err': largest_relative_error(grads, ref_grads)}
        rows.append(judged('sparse-equivalence', name, metrics,
                           {'outputs_err': FP32_LIMIT, 'grads_err': FP32_LIMIT},
                           note='vs dense backend on the CPU'))
    return rows


def _encoder_pass(arch: str, case: tuple[str, str], weights: dict[str, torch.Tensor],
                  images: torch.Tensor, mask: torch.Tensor, device: torch.device
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The four stage outputs and the parameter gradients of ``sum(mean(out ** 2))`` of the
    encoder of ``case``, (backend, depthwise)."""
    backend, depthwise = case
    model = SparseConvNeXtV2(arch=arch, sparse_backend=backend, depthwise=depthwise,
                             out_indices=(0, 1, 2, 3))
    model.load_state_dict(weights)
    model = model.to(device=device, dtype=images.dtype)
    outs = model(images.to(device), mask.to(device))
    sum(out.square().mean() for out in outs).backward()
    return ({f'stage{i}': out.detach() for i, out in enumerate(outs)},
            {name: param.grad for name, param in model.named_parameters()})


def check_fcmae(device: torch.device, sizes: CheckSizes) -> list[CheckRow]:
    """A training step of each of the :data:`ENCODER_CASES` and of the dense backbone on the
    whole image (:data:`FULL`): time and memory."""
    unavailable = encoders_unavailable(device)
    cases = [case for case in ENCODER_CASES if encoder_name(*case) not in unavailable]
    backends = list(dict.fromkeys(backend for backend, _ in cases))
    depthwise = [mode for backend, mode in cases if backend == 'gather']
    models = build_encoders(sizes.arch, backends, device, depthwise)
    results = time_encoders(models, MASK_RATIO, sizes.batch_size, sizes.img_size, sizes.warmup,
                            sizes.repeats, device)
    rows = unavailable_rows('fcmae', unavailable)
    for name, result in results.items():
        note = 'dense ConvNeXtV2, whole image' if name == FULL else f'mask {MASK_RATIO}'
        shown = {key: result[key] for key in FCMAE_METRICS if key in result}
        rows.append(judged('fcmae', name, shown, {}, note))
    return rows


def check_finetune_amp(device: torch.device, sizes: CheckSizes, work_dir: str) -> list[CheckRow]:
    """Fine-tuning steps under ``tools/train.py --amp``'s precision: every loss finite."""
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = load_config(CLASSIFIER_CONFIG, osp.join(work_dir, 'finetune-amp'))
    # CUDA: float16 with dynamic loss scaling, as --amp picks; the CPU: bfloat16.
    use_amp(cfg, None if device.type == 'cuda' else 'bfloat16')
    if cfg.optim_wrapper.type == 'mmconvnextv2.AutocastOptimWrapper':
        cfg.optim_wrapper.device_type = device.type
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    cfg.model.backbone.init_cfg = None  # random weights: no checkpoint to load
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.to(device)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    num_classes = cfg.model.head.num_classes
    generator = torch.Generator().manual_seed(4)
    losses = []
    for _ in range(sizes.amp_steps):
        inputs = [torch.randint(0, 256, (3, sizes.amp_img_size, sizes.amp_img_size),
                                generator=generator, dtype=torch.uint8)
                  for _ in range(sizes.amp_batch)]
        samples = [DataSample().set_gt_label(i % num_classes) for i in range(sizes.amp_batch)]
        log_vars = model.train_step(dict(inputs=inputs, data_samples=samples), optim_wrapper)
        losses.append(float(log_vars['loss'].detach()))
    metrics = {'first_loss': losses[0], 'last_loss': losses[-1],
               'non_finite_losses': float(sum(not math.isfinite(v) for v in losses)),
               'params_finite': float(all(bool(p.isfinite().all()) for p in model.parameters()))}
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    if scaler is not None:
        metrics['loss_scale'] = float(scaler.get_scale())
    limits = {'non_finite_losses': 0.0}
    case = f'{cfg.optim_wrapper.type.split(".")[-1]} {cfg.optim_wrapper.dtype}'
    return [judged('finetune-amp', case, metrics, limits, bounds={'params_finite': (1.0, 1.0)},
                   note=f'{sizes.amp_steps} steps, batch {sizes.amp_batch}')]


def shapes_data(work_dir: str, sizes: CheckSizes) -> str:
    """The shapes scenes of the detection and segmentation stages (generated once)."""
    data_dir = osp.join(work_dir, f'shapes_{sizes.scene_size}')
    ensure_shapes_dataset(data_dir, num_train=sizes.det_iters * sizes.det_batch,
                          num_val=sizes.test_scenes, size=sizes.scene_size, progress=False)
    return data_dir


def mmcv_ops_unavailable(device: torch.device) -> str | None:
    """Why mmcv's ops (RoIAlign, NMS) cannot run on ``device``, or None when they can."""
    from mmcv.ops import get_compiling_cuda_version
    if device.type == 'cuda' and get_compiling_cuda_version() == 'not available':
        return ('mmcv was built without CUDA kernels: rebuild it with them (make setup on the GPU '
                "machine, with an nvcc of torch's CUDA major version; or FORCE_CUDA=1 "
                'tools/build_mmcv.sh, after tools/cuda_build_preflight.sh; docs/gpu.md)')
    return None


def check_mask_rcnn(device: torch.device, sizes: CheckSizes, work_dir: str) -> list[CheckRow]:
    """Mask R-CNN: ``det_iters`` training iterations, then the COCO APs on the test scenes."""
    case = f'{sizes.det_iters} iters, test {sizes.test_scenes} scenes'
    reason = mmcv_ops_unavailable(device)
    if reason:
        return unavailable_rows('mask-rcnn', {case: reason})
    start = time.perf_counter()
    aps = train_mask_rcnn(shapes_data(work_dir, sizes), osp.join(work_dir, 'mask-rcnn'),
                          max_epochs=1, batch_size=sizes.det_batch,
                          num_workers=sizes.workers).metrics
    metrics = {**aps, 'wall_s': time.perf_counter() - start}
    # COCO reports -1 where the test scenes hold no object of a size.
    return [judged('mask-rcnn', case, metrics, {}, bounds={key: (-1.0, 1.0) for key in aps},
                   note='from scratch: the APs are near 0, the check is that they are computed')]


def check_upernet(device: torch.device, sizes: CheckSizes, work_dir: str) -> list[CheckRow]:
    """UperNet: ``seg_iters`` training iterations, then mIoU on the test scenes."""
    start = time.perf_counter()
    run = train_upernet(shapes_data(work_dir, sizes), osp.join(work_dir, 'upernet'),
                        max_iters=sizes.seg_iters, batch_size=sizes.seg_batch,
                        num_workers=sizes.workers)
    metrics = {**run.metrics, 'wall_s': time.perf_counter() - start}
    return [judged('upernet', f'{sizes.seg_iters} iters, test {sizes.test_scenes} scenes',
                   metrics, {}, bounds={key: (0.0, 100.0) for key in run.metrics},
                   note='percent; from scratch, the check is that they are computed')]


def run_stage(stage: str, device: torch.device, sizes: CheckSizes,
              work_dir: str) -> list[CheckRow]:
    """The rows of one stage; an exception becomes one ``'error'`` row."""
    checks: dict[str, Callable[[], list[CheckRow]]] = {
        'backbone': lambda: check_backbone(device, sizes),
        'sparse-equivalence': lambda: check_sparse_equivalence(device, sizes),
        'fcmae': lambda: check_fcmae(device, sizes),
        'finetune-amp': lambda: check_finetune_amp(device, sizes, work_dir),
        'mask-rcnn': lambda: check_mask_rcnn(device, sizes, work_dir),
        'upernet': lambda: check_upernet(device, sizes, work_dir),
    }
    try:
        return checks[stage]()
    except Exception as error:  # reported in the table; the next stage runs
        traceback.print_exc()
        return [CheckRow(stage, '-', ERROR, note=f'{type(error).__name__}: {error}'[:500])]


def environment(device: torch.device) -> dict[str, object]:
    """Software and hardware of the run."""
    import mmcv
    import mmdet
    import mmengine
    import mmpretrain
    import mmseg
    import timm
    from mmcv.ops import get_compiling_cuda_version
    info: dict[str, object] = dict(
        python=platform.python_version(), torch=torch.__version__, torch_cuda=torch.version.cuda,
        mmcv=mmcv.__version__, mmcv_ops_cuda=get_compiling_cuda_version(),
        mmengine=mmengine.__version__, mmpretrain=mmpretrain.__version__,
        mmdet=mmdet.__version__, mmseg=mmseg.__version__, timm=timm.__version__,
        threads=torch.get_num_threads(), machine=platform.machine())
    try:
        import spconv
        from spconv.cppconstants import CPU_ONLY_BUILD
        info['spconv'] = f'{spconv.__version__} ({"CPU only" if CPU_ONLY_BUILD else "CUDA"})'
    except ImportError:
        info['spconv'] = None
    if device.type == 'cuda':
        info.update(gpu=torch.cuda.get_device_name(device),
                    compute_capability='.'.join(map(str, torch.cuda.get_device_capability(device))),
                    cudnn=torch.backends.cudnn.version())
    return info


def run_gpu_check(device: torch.device, sizes: CheckSizes, work_dir: str,
                  stages: tuple[str, ...] = STAGES,
                  progress: Callable[[CheckRow], None] | None = None) -> dict[str, object]:
    """Runs the stages in order.

    Args:
        device: Where to run.
        sizes: :data:`FULL_SIZES`, :data:`QUICK_SIZES` or others.
        work_dir: Where the runners' logs, checkpoints and the shapes scenes go.
        stages: Which of :data:`STAGES`, in their order.
        progress: Called with each row as soon as it is known.

    Returns:
        ``environment``, ``sizes``, ``rows`` (as dicts), ``wall_s`` and ``ok``
        (:func:`check_passed`).
    """
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f'Unknown stages {unknown}; choose from {STAGES}.')
    start = time.perf_counter()
    rows: list[CheckRow] = []
    for stage in (stage for stage in STAGES if stage in stages):
        for row in run_stage(stage, device, sizes, work_dir):
            rows.append(row)
            if progress is not None:
                progress(row)
    return dict(environment=environment(device), sizes=asdict(sizes),
                rows=[asdict(row) for row in rows], wall_s=time.perf_counter() - start,
                ok=check_passed(rows))


def check_passed(rows: list[CheckRow]) -> bool:
    """Whether every row is ``ok`` or ``skip``: a ``fail``, ``unavailable`` or ``error`` row
    fails the check."""
    return all(row.status in PASSING for row in rows)


def format_row(row: CheckRow) -> str:
    """One table line: stage, case, status, the numbers (``<= limit`` where there is one), note."""
    numbers = ', '.join(f'{name} {_number(value)}'
                        + (f' (<= {_number(row.limits[name])})' if name in row.limits else '')
                        for name, value in row.metrics.items())
    text = f'{row.stage:<19}{row.case:<32}{row.status:<7}{numbers}'
    return text + (f' | {row.note}' if row.note else '')


def format_table(rows: list[CheckRow]) -> str:
    """The rows under a header."""
    header = f'{"stage":<19}{"case":<32}{"status":<7}numbers | note'
    return '\n'.join([header, '-' * len(header), *map(format_row, rows)])


def _number(value: float) -> str:
    """A compact rendering: 3 significant digits, integers as integers."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f'{value:.3g}'

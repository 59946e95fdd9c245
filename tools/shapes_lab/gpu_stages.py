"""Every stage of the project on one device, each checked against a reference: the GPU check.

``tools/gpu_check.py`` is the command line; this module does the work. The stages, one or more
table rows each (:mod:`shapes_lab.checks` says what a row's status means):

* ``backbone``: our ConvNeXt V2 classifier holding a randomised timm ``convnextv2_<arch>``'s
  weights (through :func:`~mmconvnextv2.converters.convert_state_dict`), forward and backward,
  eager and ``torch.compile``-d, in float32, bfloat16 and float16 autocast, against timm's eager
  float32 logits and gradients;
* ``sparse-equivalence``: each FCMAE sparse encoder on the device (:data:`ENCODER_CASES`: every
  backend, the ``gather`` backend with each of its depthwise paths) against the ``dense`` backend
  on the CPU, float32 with TF32 off, outputs and gradients;
* ``fcmae``: one training step of each of those encoders and of the dense backbone on the whole
  image at mask ratio 0.6, time and memory
  (:func:`~benchmarks.encoders.time_encoders`, as
  ``tools/analysis/benchmark_fcmae.py``);
* ``finetune-amp``: the shapes fine-tuning recipe's classifier trained under the mixed precision
  ``tools/train.py --amp`` picks (float16 with dynamic loss scaling on CUDA, bfloat16 on the
  CPU; :func:`~shapes_lab.training.classifier_stage`): every loss and parameter finite;
* ``mask-rcnn``: Mask R-CNN trained a few iterations on the shapes scenes, then tested: COCO APs;
* ``upernet``: UperNet likewise: mIoU.

The stages run one after another through :func:`~shapes_lab.stages.run_stages`, each with its
console in ``<work_dir>/<stage>/console.log``.
"""
import functools
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from torch import nn

from benchmarks.classifiers import build_timm
from benchmarks.encoders import FULL, build_encoders, encoder_name, time_encoders
from benchmarks.environment import environment
from benchmarks.timing import summarize, time_call
from mmconvnextv2.converters import convert_state_dict
from mmconvnextv2.datasets import ensure_shapes_dataset
from mmconvnextv2.models import ConvNeXtV2, SparseConvNeXtV2
from mmconvnextv2.models.utils import random_patch_mask

from .availability import encoders_unavailable, mmcv_ops_unavailable
from .checks import ERROR, SKIP, CheckRow, check_passed, judged, unavailable_rows
from .configs import CLASSIFIER_CONFIG
from .sizes import BenchSize, SceneSet, Sizes, TaskSize
from .stages import Stage, run_stages, stage_dir
from .training import classifier_stage, mask_rcnn_stage, upernet_stage

STAGES = ('backbone', 'sparse-equivalence', 'fcmae', 'finetune-amp', 'mask-rcnn', 'upernet')
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


def check_backbone(device: torch.device, bench: BenchSize) -> list[CheckRow]:
    """Our classifier against timm's, eager and compiled, in float32 and under autocast."""
    torch.manual_seed(0)
    reference = randomise_(build_timm(bench.arch, channels_last=False), seed=0)
    ours = our_classifier(bench.arch)
    ours.load_state_dict(convert_state_dict(reference.state_dict(), arch=bench.arch).state_dict)
    reference, ours = reference.to(device).train(), ours.to(device).train()
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(bench.batch_size, 3, bench.img_size, bench.img_size,
                         generator=generator).to(device)
    labels = torch.randint(0, 1000, (bench.batch_size, ), generator=generator).to(device)
    with exact_float32():
        ref_logits = classifier_step(reference, reference, images, labels, torch.float32)
    # timm's gradients under our names: the converter maps them as it maps the weights.
    ref_grads = convert_state_dict(gradients(reference), fmt='timm').state_dict

    def run_ours(mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
        return ours if mode == 'eager' else torch.compile(ours, backend=bench.compile_backend)

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
                                      (ref_logits, ref_grads), bench, device))
    return rows


def _backbone_row(case: str, model: Callable, ours: nn.Module, reference: nn.Module,
                  images: torch.Tensor, labels: torch.Tensor, dtype: torch.dtype,
                  truth: tuple[torch.Tensor, dict[str, torch.Tensor]], bench: BenchSize,
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
        for _ in range(bench.warmup):
            classifier_step(model, ours, images, labels, dtype)
        times = [time_call(lambda: classifier_step(model, ours, images, labels, dtype),
                           device)[0] for _ in range(bench.repeats)]
    metrics.update(step_ms=summarize(times)['median_ms'], first_call_s=first_s)
    note = f'{bench.compile_backend} backend' if case.startswith('compile') else ''
    return judged('backbone', case, metrics, limits, note)


def check_sparse_equivalence(device: torch.device, bench: BenchSize) -> list[CheckRow]:
    """Each of the :data:`ENCODER_CASES` on ``device`` against ``dense`` on the CPU, float32 with
    TF32 off."""
    torch.manual_seed(0)
    dense = ConvNeXtV2(arch=bench.arch, with_out_norms=False)
    dense.init_weights()
    weights = randomise_(dense, seed=2).state_dict()
    generator = torch.Generator().manual_seed(3)
    images = torch.randn(2, 3, bench.img_size, bench.img_size + 32, generator=generator)
    mask = random_patch_mask(2, (bench.img_size // 32, bench.img_size // 32 + 1), MASK_RATIO,
                             generator=generator)
    # float32: GRN takes its norm in float32 (under autocast too), so float64 is not an option.
    with exact_float32():
        ref_outs, ref_grads = _encoder_pass(bench.arch, ('dense', 'auto'), weights, images, mask,
                                            torch.device('cpu'))
    unavailable = encoders_unavailable(device)
    rows = unavailable_rows('sparse-equivalence', unavailable)
    for case in ENCODER_CASES:
        name = encoder_name(*case)
        if name in unavailable:
            continue
        with exact_float32():
            outs, grads = _encoder_pass(bench.arch, case, weights, images, mask, device)
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


def check_fcmae(device: torch.device, bench: BenchSize) -> list[CheckRow]:
    """A training step of each of the :data:`ENCODER_CASES` and of the dense backbone on the
    whole image (:data:`FULL`): time and memory."""
    unavailable = encoders_unavailable(device)
    cases = [case for case in ENCODER_CASES if encoder_name(*case) not in unavailable]
    backends = list(dict.fromkeys(backend for backend, _ in cases))
    depthwise = [mode for backend, mode in cases if backend == 'gather']
    models = build_encoders(bench.arch, backends, device, depthwise)
    results = time_encoders(models, MASK_RATIO, bench.batch_size, bench.img_size, bench.warmup,
                            bench.repeats, device)
    rows = unavailable_rows('fcmae', unavailable)
    for name, result in results.items():
        note = 'dense ConvNeXtV2, whole image' if name == FULL else f'mask {MASK_RATIO}'
        shown = {key: result[key] for key in FCMAE_METRICS if key in result}
        rows.append(judged('fcmae', name, shown, {}, note))
    return rows


def check_finetune_amp(device: torch.device, sizes: Sizes, work_dir: str) -> list[CheckRow]:
    """The fine-tuning recipe's classifier trained under ``tools/train.py --amp``'s precision
    (float16 with dynamic loss scaling on CUDA, bfloat16 on the CPU): every loss and parameter
    finite."""
    size: TaskSize = sizes.need('classifier')
    values = classifier_stage(stage_dir(work_dir, 'finetune-amp'), size, config=CLASSIFIER_CONFIG,
                              precision='amp', workers=sizes.workers, test=False)
    metrics = {'first_loss': values['first_loss'], 'last_loss': values['last_loss'],
               'non_finite_losses': float(values['non_finite_losses']),
               'params_finite': float(values['params_finite'])}
    if values['loss_scale'] is not None:
        metrics['loss_scale'] = values['loss_scale']
    return [judged('finetune-amp', values['optim_wrapper'], metrics, {'non_finite_losses': 0.0},
                   bounds={'params_finite': (1.0, 1.0)},
                   note=f'{values["iters"]} steps, batch {size.batch}')]


def shapes_data(work_dir: str, scenes: SceneSet) -> str:
    """The shapes scenes of the detection and segmentation stages (generated once)."""
    folder = scenes.folder(work_dir)
    ensure_shapes_dataset(folder, scenes.train, scenes.test, size=scenes.size, progress=False)
    return folder


def planned_iters(size: TaskSize, num_train: int) -> int:
    """The training iterations of ``size`` over ``num_train`` scenes.

    Raises:
        ValueError: If ``size`` leaves the schedule or the batch to the config.
    """
    if size.iters is not None:
        return size.iters
    if size.epochs is None or size.batch is None:
        raise ValueError(f'The GPU check needs iterations, or epochs and a batch, got {size}.')
    return size.epochs * math.ceil(num_train / size.batch)


def _case(size: TaskSize, scenes: SceneSet) -> str:
    """The case of a training stage's row: its iterations and test scenes."""
    return f'{planned_iters(size, scenes.train)} iters, test {scenes.test} scenes'


def check_mask_rcnn(device: torch.device, sizes: Sizes, work_dir: str) -> list[CheckRow]:
    """Mask R-CNN trained from scratch, then the COCO APs on the test scenes."""
    size, scenes = sizes.need('mask_rcnn'), sizes.need('det_scenes')
    reason = mmcv_ops_unavailable(device)
    if reason:
        return unavailable_rows('mask-rcnn', {_case(size, scenes): reason})
    start = time.perf_counter()
    values = mask_rcnn_stage(stage_dir(work_dir, 'mask-rcnn'), shapes_data(work_dir, scenes), size,
                             workers=sizes.workers)
    aps = values['metrics']
    metrics = {**aps, 'wall_s': time.perf_counter() - start}
    # COCO reports -1 where the test scenes hold no object of a size.
    return [judged('mask-rcnn', _case(size, scenes), metrics, {},
                   bounds={key: (-1.0, 1.0) for key in aps},
                   note='from scratch: the APs are near 0, the check is that they are computed')]


def check_upernet(device: torch.device, sizes: Sizes, work_dir: str) -> list[CheckRow]:
    """UperNet trained from scratch, then aAcc, mIoU and mAcc on the test scenes."""
    size, scenes = sizes.need('upernet'), sizes.need('seg_scenes')
    start = time.perf_counter()
    values = upernet_stage(stage_dir(work_dir, 'upernet'), shapes_data(work_dir, scenes), size,
                           workers=sizes.workers)
    metrics = {**values['metrics'], 'wall_s': time.perf_counter() - start}
    return [judged('upernet', _case(size, scenes), metrics, {},
                   bounds={key: (0.0, 100.0) for key in values['metrics']},
                   note='percent; from scratch, the check is that they are computed')]


def stage_rows(stage: str, device: torch.device, sizes: Sizes, work_dir: str) -> dict:
    """The rows of one stage, as the stage runner records them."""
    checks: dict[str, Callable[[], list[CheckRow]]] = {
        'backbone': lambda: check_backbone(device, sizes.need('bench')),
        'sparse-equivalence': lambda: check_sparse_equivalence(device, sizes.need('bench')),
        'fcmae': lambda: check_fcmae(device, sizes.need('bench')),
        'finetune-amp': lambda: check_finetune_amp(device, sizes, work_dir),
        'mask-rcnn': lambda: check_mask_rcnn(device, sizes, work_dir),
        'upernet': lambda: check_upernet(device, sizes, work_dir),
    }
    rows = checks[stage]()
    return dict(rows=[asdict(row) for row in rows],
                summary=', '.join(f'{row.case}: {row.status}' for row in rows))


def run_gpu_check(device: torch.device, sizes: Sizes, work_dir: str,
                  stages: tuple[str, ...] = STAGES) -> dict[str, object]:
    """Runs the stages in order.

    Args:
        device: Where to run.
        sizes: The ``gpu`` or ``quick`` preset, or others that set the stages' sizes.
        work_dir: Where the stages' folders (logs, checkpoints) and the shapes scenes go.
        stages: Which of :data:`STAGES`, in their order.

    Returns:
        ``environment`` (:func:`benchmarks.environment.environment`), ``sizes``,
        ``rows`` (as dicts), ``wall_s`` and ``ok`` (:func:`~shapes_lab.checks.check_passed`).
    """
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f'Unknown stages {unknown}; choose from {STAGES}.')
    start = time.perf_counter()
    results = run_stages([Stage(stage, functools.partial(stage_rows, stage, device, sizes,
                                                         work_dir))
                          for stage in STAGES if stage in stages], work_dir)
    rows: list[CheckRow] = []
    for stage, result in results.items():
        if result.ok:
            rows += [CheckRow(**row) for row in result.values['rows']]
        else:
            rows.append(CheckRow(stage, '-', ERROR, note=result.error[:500]))
    return dict(environment=environment(), sizes=asdict(sizes),
                rows=[asdict(row) for row in rows], wall_s=time.perf_counter() - start,
                ok=check_passed(rows))

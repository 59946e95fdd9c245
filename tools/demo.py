"""The main job on the bundled shapes with ConvNeXt V2-Atto on the CPU: short runs of every stage
beside the model zoo's fully trained checkpoints, in one table.

Stages (independent of each other; side by side in ``--processes`` processes):

* ``fcmae``: FCMAE V2 pre-training on the unlabelled pool, a short run of its own: its loss falls,
  its held-out loss and a picture of its reconstructions;
* ``classifier``: fine-tuning from the zoo's FCMAE V2 encoder on 300 labelled scenes, then
  ``classifier_scratch``: the same budget from random weights, both with the plain recipe
  (``convnextv2-atto_shapes.py``; the paper's fine-tuning recipe keeps a random network at
  chance for this many steps, see the study in docs/results.md);
* ``mask_rcnn``, ``upernet``: Mask R-CNN and UperNet from the zoo's encoder, short, then
  ``mask_rcnn_scratch``, ``upernet_scratch``: the same budgets from random weights;
* ``zoo``: the zoo's trained checkpoints tested as ``tools/test.py`` does (entries not trained yet
  say so in the table);
* ``cosine``: the feature cosine distance of the zoo's V2 and V1-style FCMAE encoders.

Then the loss curves and the table: task, metric, demo value, chance, scratch at the same
budget, zoo value. Each stage's console goes to ``<work-dir>/<stage>/console.log``; the terminal
gets a line when a stage starts and one when it ends. The budgets and the zoo's files are the
constants below; ``--quick`` runs every stage for a few iterations (the test does).
"""
import warnings

# Before the OpenMMLab imports: mmcv imports pkg_resources, which warns on every import.
warnings.filterwarnings('ignore', 'pkg_resources is deprecated', UserWarning)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import torch  # noqa: E402

from mmconvnextv2.analysis import (CONVNEXT_MLP_HOOK_PATTERN, ImageSource,  # noqa: E402
                                   find_loss_curve, plot_loss_curves, save_detection_grid,
                                   save_reconstruction_grid)
from mmconvnextv2.analysis.features import CONVNEXT_GRN_HOOK_PATTERN  # noqa: E402
from mmconvnextv2.apis import AnalysedModel, compare_feature_diversity  # noqa: E402
from mmconvnextv2.apis.detection import SHAPES_DETECTION_SIZE  # noqa: E402
from mmconvnextv2.apis.segmentation import background_only_miou  # noqa: E402
from mmconvnextv2.apis.shapes_runs import (CLASSIFIER_CONFIG, FCMAE_CONFIG,  # noqa: E402
                                           FCMAE_V1STYLE_CONFIG, PLAIN_CLASSIFIER_CONFIG,
                                           evaluate_classifier, evaluate_mask_rcnn,
                                           evaluate_upernet, fcmae_config, fcmae_val_loss,
                                           load_fcmae, mask_rcnn_config, pretrain_fcmae,
                                           train_classifier, train_crop, train_mask_rcnn,
                                           train_upernet, val_scene_images)
from mmconvnextv2.datasets import SHAPE_CLASSES, ensure_shapes_dataset  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The zoo's files (zoo/metafile.yml): the encoders the downstream stages start from, and the
# trained checkpoints whose test numbers fill the table's zoo column.
ZOO_FILES = {
    'fcmae_v2_encoder': 'fcmae_convnextv2-atto_shapes_encoder.pth',
    'fcmae_v1_encoder': 'fcmae_convnextv2-atto-v1style_shapes_encoder.pth',
    'fcmae_v2': 'fcmae_convnextv2-atto_shapes.pth',  # the whole FCMAE model, decoder included
    'classifier': 'convnextv2-atto_fcmae-ft_shapes.pth',
    'mask_rcnn': 'mask-rcnn_convnextv2-atto_fpn_shapes.pth',
    'upernet': 'convnextv2-atto_upernet_shapes.pth',
}
NOT_IN_ZOO = 'not in the zoo yet'


@dataclass(frozen=True)
class Budget:
    """How much each stage trains and tests.

    Attributes:
        fcmae: Options of :func:`pretrain_fcmae` (epochs over ``num_scenes`` pool scenes).
        classifier: Options of :func:`train_classifier`, for fine-tuning and scratch alike.
        mask_rcnn: Options of :func:`train_mask_rcnn`.
        upernet: Options of :func:`train_upernet`.
        det_scenes: Training and test scenes of Mask R-CNN, at 320 px.
        seg_scenes: Training and test scenes of UperNet, at 224 px.
        val_scenes: Held-out scenes of the FCMAE loss and the reconstructions picture.
        analysis_images: Validation scenes of the cosine-distance analysis.
        reconstructed: Validation scenes in the reconstructions picture.
    """
    fcmae: dict
    classifier: dict
    mask_rcnn: dict
    upernet: dict
    det_scenes: tuple[int, int]
    seg_scenes: tuple[int, int]
    val_scenes: int
    analysis_images: int
    reconstructed: int = 4


# A few hundred iterations each. Measured: 10 min 40 s on a fresh clone, 2 idle cores, with the
# scratch runs of every downstream stage (docs/results.md).
FULL = Budget(
    fcmae=dict(max_epochs=3, num_scenes=1920, batch_size=32),  # 180 iterations
    # 290 iterations of 32 over 300 labelled scenes (the study's middle budget), test on 600
    # scenes. From scratch the loss stays near ln 6 for 100-200 steps: 192 iterations left it near
    # chance. At 300 scenes every seed of the study learns from scratch and has the encoder
    # ahead; at 1500, scratch's seeds spread too widely for one seed (docs/results.md).
    classifier=dict(max_epochs=29, num_train=300, config=PLAIN_CLASSIFIER_CONFIG),
    # 120 iterations of 4 at 5x the config's lr (its warm-up of 100 iterations shortened to 10):
    # the heads start from random weights. On the demo's scenes this got box AP 13.0, where 40
    # iterations of 8 at the same lr got 3.8, in about 30 % more time.
    mask_rcnn=dict(max_epochs=3, batch_size=4,
                   cfg_options={'param_scheduler.0.end': 10, 'optim_wrapper.optimizer.lr': 1e-3}),
    upernet=dict(max_iters=160),
    det_scenes=(160, 50), seg_scenes=(320, 100), val_scenes=32, analysis_images=120)
# Every stage end to end in seconds: the test's budget.
QUICK = Budget(
    fcmae=dict(max_epochs=2, num_scenes=4, batch_size=2),
    classifier=dict(max_epochs=3, num_train=4, num_val=4, batch_size=2,
                    config=PLAIN_CLASSIFIER_CONFIG),
    mask_rcnn=dict(max_epochs=1, batch_size=2, cfg_options={'param_scheduler.0.end': 1}),
    upernet=dict(max_iters=2, batch_size=2),
    det_scenes=(4, 2), seg_scenes=(4, 2), val_scenes=2, analysis_images=6, reconstructed=2)


@dataclass(frozen=True)
class Paths:
    """Where the demo reads and writes."""
    work_dir: str
    zoo_dir: str
    det_data: str
    seg_data: str

    def stage(self, name: str) -> str:
        """A stage's own work directory."""
        return osp.join(self.work_dir, name)

    def zoo(self, key: str) -> str | None:
        """The zoo file of :data:`ZOO_FILES` ``key``, or None while it is not in the zoo."""
        path = osp.join(self.zoo_dir, ZOO_FILES[key])
        return path if osp.isfile(path) else None

    def encoder(self, key: str) -> str:
        """A zoo encoder the demo needs.

        Raises:
            FileNotFoundError: If it is missing (the zoo is committed with the repository).
        """
        path = self.zoo(key)
        if path is None:
            raise FileNotFoundError(f'{osp.join(self.zoo_dir, ZOO_FILES[key])} is missing: the '
                                    'repository ships it in zoo/ (see zoo/metafile.yml); pass '
                                    '--zoo-dir if yours is elsewhere.')
        return path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/demo'),
                        help='where logs, checkpoints, pictures and the table go')
    parser.add_argument('--data-dir', default=osp.join(REPO, 'data'),
                        help='where the detection and segmentation scenes are written (the '
                             'classification scenes are rendered on the fly)')
    parser.add_argument('--zoo-dir', default=osp.join(REPO, 'zoo'), help='the model zoo')
    parser.add_argument('--processes', type=int, default=2,
                        help='stages run side by side in this many processes, which share the '
                             "CPU's cores (1: one after the other, here)")
    parser.add_argument('--quick', action='store_true',
                        help='a few iterations of every stage (checks the demo end to end)')
    args = parser.parse_args()
    if args.processes < 1:
        parser.error('--processes must be at least 1')
    return args


def log_line(start: float, text: str) -> None:
    """One line on the terminal, with the seconds since the demo started.

    Written in one call, so that the lines of stages running side by side do not mix.
    """
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), f'[{time.time() - start:5.0f} s] {text}\n'.encode())


@contextlib.contextmanager
def console_to(path: str) -> Iterator[None]:
    """Sends this process's stdout and stderr to ``path`` meanwhile.

    The file descriptors themselves are redirected, so that mmengine's loggers and progress bars
    (which hold the streams they started with) and C extensions follow.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, 'a') as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def run_stage(name: str, function: Callable[..., dict], paths: Paths, budget: Budget,
              start: float) -> dict:
    """Runs one stage with its console in ``<stage dir>/console.log``.

    Returns:
        The stage's results, with ``summary``: its line for the terminal.
    """
    os.makedirs(paths.stage(name), exist_ok=True)
    log = osp.join(paths.stage(name), 'console.log')
    log_line(start, f'{name}: started')
    began = time.time()
    try:
        with console_to(log):
            result = function(paths, budget)
    except Exception as error:
        log_line(start, f'{name}: FAILED ({type(error).__name__}: {error}); see {log}')
        raise
    log_line(start, f'{name}: {result["summary"]} ({time.time() - began:.0f} s)')
    return result


def stage_fcmae(paths: Paths, budget: Budget) -> dict:
    """The short FCMAE V2 run: its losses and reconstructions (and the zoo model's, if there)."""
    run = pretrain_fcmae(paths.stage('fcmae'), num_workers=0, val_scenes=budget.val_scenes,
                         **budget.fcmae)
    side = train_crop(fcmae_config(paths.stage('fcmae'))).scale  # what the held-out loss saw
    images = val_scene_images(budget.reconstructed, side)
    pictures = [save_reconstruction_grid(load_fcmae(FCMAE_CONFIG, run.checkpoint), images,
                                         osp.join(paths.work_dir, 'fcmae_reconstructions.png'))]
    result = dict(run.metrics, iters=run.iters, zoo=None)
    zoo = paths.zoo('fcmae_v2')
    if zoo is not None:  # the same held-out scenes and masks as the short run's
        model = load_fcmae(FCMAE_CONFIG, zoo)
        result['zoo'] = fcmae_val_loss(model, val_scene_images(budget.val_scenes, side))[
            'val_loss']
        pictures.append(save_reconstruction_grid(
            model, images, osp.join(paths.work_dir, 'fcmae_reconstructions_zoo.png')))
    result['pictures'] = pictures
    result['summary'] = (f'{run.iters} iterations, training loss {run.metrics["loss_first"]:.3f} '
                         f'-> {run.metrics["loss_last"]:.3f}, held-out loss '
                         f'{run.metrics["val_loss"]:.3f} (predicting patch means: '
                         f'{run.metrics["val_loss_patch_mean"]:.3f})')
    return result


def classify(paths: Paths, budget: Budget, name: str, encoder: str | None) -> dict:
    """A classifier run of the demo's budget from ``encoder`` (None: from scratch)."""
    run = train_classifier(paths.stage(name), init_checkpoint=encoder, num_workers=0,
                           **budget.classifier)
    return dict(top1=run.metrics['top1'], iters=run.iters,
                summary=f'{run.iters} iterations, top-1 {run.metrics["top1"]:.1f} %')


def stage_classifier(paths: Paths, budget: Budget) -> dict:
    """Fine-tuning from the zoo's FCMAE V2 encoder."""
    return classify(paths, budget, 'classifier', paths.encoder('fcmae_v2_encoder'))


def stage_classifier_scratch(paths: Paths, budget: Budget) -> dict:
    """The same classifier budget from random weights."""
    return classify(paths, budget, 'classifier_scratch', None)


def detect(paths: Paths, budget: Budget, name: str, encoder: str | None) -> dict:
    """A Mask R-CNN run of the demo's budget from ``encoder`` (None: from scratch)."""
    run = train_mask_rcnn(paths.det_data, paths.stage(name), num_workers=0,
                          init_checkpoint=encoder, **budget.mask_rcnn)
    return dict(run.metrics, iters=run.iters, checkpoint=run.checkpoint,
                summary=f'{run.iters} iterations, box AP {100 * run.metrics["bbox_mAP"]:.1f} %, '
                        f'mask AP {100 * run.metrics["segm_mAP"]:.1f} %')


def draw_detections(paths: Paths, budget: Budget, checkpoint: str, work_dir: str,
                    filename: str) -> str:
    """Ground truth | ``checkpoint``'s detections on the first test scenes, as ``filename``."""
    return save_detection_grid(mask_rcnn_config(paths.det_data, work_dir), checkpoint,
                               osp.join(paths.work_dir, filename),
                               indices=range(min(4, budget.det_scenes[1])))


def stage_mask_rcnn(paths: Paths, budget: Budget) -> dict:
    """Mask R-CNN from the zoo's encoder, and its detections beside the ground truth."""
    result = detect(paths, budget, 'mask_rcnn', paths.encoder('fcmae_v2_encoder'))
    result['picture'] = draw_detections(paths, budget, result['checkpoint'],
                                        paths.stage('mask_rcnn'), 'detections.png')
    return result


def stage_mask_rcnn_scratch(paths: Paths, budget: Budget) -> dict:
    """The same Mask R-CNN budget from random weights."""
    return detect(paths, budget, 'mask_rcnn_scratch', None)


def segment(paths: Paths, budget: Budget, name: str, encoder: str | None) -> dict:
    """An UperNet run of the demo's budget from ``encoder`` (None: from scratch)."""
    run = train_upernet(paths.seg_data, paths.stage(name), num_workers=0,
                        init_checkpoint=encoder, **budget.upernet)
    return dict(run.metrics, iters=run.iters,
                summary=f'{run.iters} iterations, mIoU {run.metrics["mIoU"]:.1f} %')


def stage_upernet(paths: Paths, budget: Budget) -> dict:
    """UperNet from the zoo's encoder."""
    return segment(paths, budget, 'upernet', paths.encoder('fcmae_v2_encoder'))


def stage_upernet_scratch(paths: Paths, budget: Budget) -> dict:
    """The same UperNet budget from random weights."""
    return segment(paths, budget, 'upernet_scratch', None)


def stage_zoo(paths: Paths, budget: Budget) -> dict:
    """The zoo's trained checkpoints, tested on the demo's test scenes (None: not in the zoo)."""
    work = paths.stage('zoo')
    result: dict[str, object] = {}
    checkpoint = paths.zoo('classifier')
    result['top1'] = None if checkpoint is None else evaluate_classifier(
        checkpoint, osp.join(work, 'classifier'), num_workers=0,
        num_val=budget.classifier.get('num_val'))['top1']
    checkpoint = paths.zoo('mask_rcnn')
    result['mask_rcnn'] = None if checkpoint is None else evaluate_mask_rcnn(
        paths.det_data, checkpoint, osp.join(work, 'mask_rcnn'), num_workers=0)
    # The short run finds little at a score of 0.5; the trained detector shows what it becomes.
    result['pictures'] = [] if checkpoint is None else [draw_detections(
        paths, budget, checkpoint, osp.join(work, 'mask_rcnn'), 'detections_zoo.png')]
    checkpoint = paths.zoo('upernet')
    result['mIoU'] = None if checkpoint is None else evaluate_upernet(
        paths.seg_data, checkpoint, osp.join(work, 'upernet'), num_workers=0)['mIoU']
    missing = [key for key in ('classifier', 'mask_rcnn', 'upernet') if paths.zoo(key) is None]
    result['summary'] = (f'tested {3 - len(missing)} of 3 checkpoints'
                         + (f'; {", ".join(missing)}: {NOT_IN_ZOO}' if missing else ''))
    return result


def stage_cosine(paths: Paths, budget: Budget) -> dict:
    """Per-layer feature cosine distance of the zoo's V2 and V1-style encoders.

    The MLP features after the GELU of both, and V2's after its GRN as well: the zoo V2's GELU
    outputs carry a per-channel offset that its GRN removes, which the metric alone reads as
    collapse (docs/analysis.md).
    """
    prefix = osp.join(paths.work_dir, 'cosine_distance')
    v2 = paths.encoder('fcmae_v2_encoder')
    layers = compare_feature_diversity(
        [AnalysedModel(FCMAE_CONFIG, v2, 'FCMAE V2, after GELU'),
         AnalysedModel(FCMAE_CONFIG, v2, 'FCMAE V2, after GRN',
                       hook_pattern=CONVNEXT_GRN_HOOK_PATTERN),
         AnalysedModel(FCMAE_V1STYLE_CONFIG, paths.encoder('fcmae_v1_encoder'),
                       'FCMAE V1-style, after GELU')],
        ImageSource(dataset_config=CLASSIFIER_CONFIG, split='val',
                    num_scenes=budget.analysis_images), out_prefix=prefix,
        num_images=budget.analysis_images, hook_pattern=CONVNEXT_MLP_HOOK_PATTERN,
        channels_last=True, title='Atto, zoo FCMAE encoders: MLP features')
    means = {label: sum(layer.mean for layer in values) / len(values)
             for label, values in layers.items()}
    return dict(picture=f'{prefix}.png', summary='mean over layers: ' + ', '.join(
        f'{label} {mean:.3f}' for label, mean in means.items()))


STAGES: dict[str, Callable[[Paths, Budget], dict]] = {
    'mask_rcnn': stage_mask_rcnn, 'mask_rcnn_scratch': stage_mask_rcnn_scratch,
    'classifier': stage_classifier, 'classifier_scratch': stage_classifier_scratch,
    'fcmae': stage_fcmae, 'upernet': stage_upernet, 'upernet_scratch': stage_upernet_scratch,
    'zoo': stage_zoo, 'cosine': stage_cosine,
}


def _worker_setup(threads: int) -> None:
    """A worker's share of the cores (OpenMP threads competing for cores slow down manifold)."""
    torch.set_num_threads(threads)


def run_stages(paths: Paths, budget: Budget, processes: int, start: float) -> dict[str, dict]:
    """Every stage of :data:`STAGES`, the longest first, in up to ``processes`` processes."""
    if processes == 1:
        return {name: run_stage(name, function, paths, budget, start)
                for name, function in STAGES.items()}
    threads = max(1, len(os.sched_getaffinity(0)) // processes)
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context('spawn'),
                             initializer=_worker_setup, initargs=(threads, )) as pool:
        futures = {name: pool.submit(run_stage, name, function, paths, budget, start)
                   for name, function in STAGES.items()}
        return {name: future.result() for name, future in futures.items()}


def cell(value: float | None, digits: int = 1) -> str:
    """A table cell: the number, or :data:`NOT_IN_ZOO` for a zoo entry that is missing."""
    return NOT_IN_ZOO if value is None else f'{value:.{digits}f}'


def results_table(results: dict[str, dict], seg_chance: float) -> list[tuple[str, ...]]:
    """(task, metric, demo value, chance, scratch at the same budget, zoo value) rows."""
    fcmae, zoo, det = results['fcmae'], results['zoo'], results['mask_rcnn']
    zoo_det = zoo['mask_rcnn']
    rows = [
        ('FCMAE V2 pre-training', 'held-out loss', cell(fcmae['val_loss'], 3),
         cell(fcmae['val_loss_patch_mean'], 3), '-', cell(fcmae['zoo'], 3)),
        ('classification', 'top-1 %', cell(results['classifier']['top1']),
         cell(100 / len(SHAPE_CLASSES)), cell(results['classifier_scratch']['top1']),
         cell(zoo['top1'])),
    ]
    for task, name in (('box', 'bbox'), ('mask', 'segm')):
        rows.append(('Mask R-CNN', f'{task} AP %', cell(100 * det[f'{name}_mAP']), cell(0.0),
                     cell(100 * results['mask_rcnn_scratch'][f'{name}_mAP']),
                     cell(None if zoo_det is None else 100 * zoo_det[f'{name}_mAP'])))
    rows.append(('UperNet', 'mIoU %', cell(results['upernet']['mIoU']), cell(seg_chance),
                 cell(results['upernet_scratch']['mIoU']), cell(zoo['mIoU'])))
    return rows


def print_table(rows: list[tuple[str, ...]], results: dict[str, dict]) -> None:
    """The table, then what its columns mean."""
    header = ('task', 'metric', 'demo', 'chance', 'scratch', 'zoo')
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print('  '.join(text.ljust(width) for text, width in zip(row, widths)))
    iters = {name: results[name]['iters'] for name in ('fcmae', 'classifier', 'mask_rcnn',
                                                       'upernet')}
    print('\n'.join([
        '',
        f'demo:    short runs ({", ".join(f"{k} {v}" for k, v in iters.items())} iterations);',
        '         the downstream ones start from the zoo FCMAE V2 encoder',
        'chance:  a constant prediction (each patch its own mean; one class; no detections;',
        '         all background)',
        'scratch: the same short run from random weights',
        'zoo:     the zoo checkpoint, trained in full, tested on the same scenes']))


def main() -> None:
    args = parse_args()
    start = time.time()
    budget = QUICK if args.quick else FULL
    paths = Paths(args.work_dir, args.zoo_dir, osp.join(args.data_dir, 'shapes_demo_320'),
                  osp.join(args.data_dir, 'shapes_demo'))
    for key in ('fcmae_v2_encoder', 'fcmae_v1_encoder'):
        paths.encoder(key)  # fail now, not after the other stages
    log_line(start, f'ConvNeXt V2-Atto on the bundled shapes: {len(STAGES)} stages in '
                    f'{args.processes} process(es); their consoles go to '
                    f'{args.work_dir}/<stage>/console.log')
    ensure_shapes_dataset(paths.det_data, *budget.det_scenes, size=SHAPES_DETECTION_SIZE,
                          progress=False)
    ensure_shapes_dataset(paths.seg_data, *budget.seg_scenes, progress=False)
    log_line(start, f'data: scenes in {paths.det_data} (320 px) and {paths.seg_data} (224 px)')

    results = run_stages(paths, budget, args.processes, start)
    curves = plot_loss_curves(
        {'FCMAE V2 pre-training': {'FCMAE V2': find_loss_curve(paths.stage('fcmae'))},
         **{title: {'from the FCMAE encoder': find_loss_curve(paths.stage(name)),
                    'from scratch': find_loss_curve(paths.stage(f'{name}_scratch'))}
            for name, title in (('classifier', 'classification'), ('mask_rcnn', 'Mask R-CNN'),
                                ('upernet', 'UperNet'))}},
        osp.join(args.work_dir, 'loss_curves.png'), title='Atto on the bundled shapes: demo runs')

    log_line(start, 'results')
    print_table(results_table(results, background_only_miou(paths.seg_data)), results)
    pictures = [*results['fcmae']['pictures'], curves, results['mask_rcnn']['picture'],
                *results['zoo']['pictures'], results['cosine']['picture']]
    print('\npictures: ' + '\n          '.join(pictures) + f'\nlogs:     {args.work_dir}')


if __name__ == '__main__':
    main()

"""The demo's stages and its table (``tools/demo.py`` is the command line).

Stages (independent of each other, run by :func:`~shapes_lab.stages.run_stages`):

* ``fcmae``: FCMAE V2 pre-training on the unlabelled pool, a short run of its own: its loss
  falls, its held-out loss and a picture of its reconstructions;
* ``classifier``: fine-tuning from the zoo's FCMAE V2 encoder, then ``classifier_scratch``: the
  same budget from random weights, both with the plain recipe (``convnextv2-atto_shapes.py``;
  the paper's fine-tuning recipe keeps a random network at chance for this many steps, see the
  study in docs/results.md);
* ``mask_rcnn``, ``upernet``: Mask R-CNN and UperNet from the zoo's encoder, short, then
  ``mask_rcnn_scratch``, ``upernet_scratch``: the same budgets from random weights;
* ``zoo``: the zoo's trained checkpoints tested on the same scenes, as ``tools/test.py`` does
  (entries not trained yet say so in the table);
* ``cosine``: the feature cosine distance of the zoo's V2 and V1-style FCMAE encoders.

Then the table: task, metric, demo value, chance, scratch at the same budget, zoo value.
"""
import functools
import os.path as osp
from dataclasses import dataclass

from mmconvnextv2.analysis import (CONVNEXT_GRN_HOOK_PATTERN, CONVNEXT_MLP_HOOK_PATTERN,
                                   AnalysedModel, ImageSource, compare_feature_diversity,
                                   save_detection_grid, save_reconstruction_grid)
from mmconvnextv2.utils import load_config

from .chance import CHANCE_AP, CHANCE_TOP1
from .configs import (CLASSIFIER_CONFIG, FCMAE_CONFIG, FCMAE_V1STYLE_CONFIG,
                      PLAIN_CLASSIFIER_CONFIG, mask_rcnn_config, train_crop)
from .fcmae import fcmae_val_loss, load_fcmae, val_scene_images
from .runs import evaluate_classifier, evaluate_mask_rcnn, evaluate_upernet
from .sizes import Sizes, TaskSize
from .stages import Stage, stage_dir
from .training import classifier_stage, fcmae_stage, mask_rcnn_stage, upernet_stage

# The zoo's files (zoo/metafile.yml): the encoders the downstream stages start from, and the
# trained checkpoints whose test numbers fill the table's zoo column.
ZOO_FILES = {
    'fcmae_v2_encoder': 'fcmae_convnextv2-atto_shapes_encoder.pth',
    'fcmae_v1_encoder': 'fcmae_convnextv2-atto-v1style_shapes_encoder.pth',
    'fcmae_v2': 'fcmae_convnextv2-atto_shapes.pth',  # the whole FCMAE model, decoder included
    'classifier': 'convnextv2-atto_shapes.pth',
    'mask_rcnn': 'mask-rcnn_convnextv2-atto_fpn_shapes.pth',
    'upernet': 'convnextv2-atto_upernet_shapes.pth',
}
NOT_IN_ZOO = 'not in the zoo yet'
# The recipe of the demo's classifier runs, from the encoder and from scratch alike.
DEMO_CLASSIFIER_CONFIG = PLAIN_CLASSIFIER_CONFIG
TABLE_HEADER = ('task', 'metric', 'demo', 'chance', 'scratch', 'zoo')


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo reads and writes.

    Attributes:
        work_dir: The stages' folders, the pictures.
        zoo_dir: The model zoo.
        det_data: Mask R-CNN's scenes.
        seg_data: UperNet's scenes.
    """
    work_dir: str
    zoo_dir: str
    det_data: str
    seg_data: str

    def stage(self, name: str) -> str:
        """A stage's own work directory."""
        return stage_dir(self.work_dir, name)

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


def fcmae_side(size: TaskSize) -> int:
    """The side of the scenes FCMAE trains on, and of its held-out scenes."""
    return size.img_size or train_crop(load_config(FCMAE_CONFIG)).scale


def fcmae(paths: DemoPaths, sizes: Sizes) -> dict:
    """The short FCMAE V2 run (:func:`~shapes_lab.training.fcmae_stage`) and its
    reconstructions."""
    size = sizes.need('fcmae')
    values = fcmae_stage(paths.stage('fcmae'), size, workers=sizes.workers)
    model = load_fcmae(FCMAE_CONFIG, values['checkpoint'])
    values['pictures'] = [save_reconstruction_grid(
        model, val_scene_images(sizes.drawn_scenes, fcmae_side(size)),
        osp.join(paths.work_dir, 'fcmae_reconstructions.png'))]
    return values


def classifier(paths: DemoPaths, sizes: Sizes, name: str, from_encoder: bool) -> dict:
    """A classifier run of the demo's budget from the zoo's FCMAE V2 encoder or from scratch."""
    return classifier_stage(
        paths.stage(name), sizes.need('classifier'),
        paths.encoder('fcmae_v2_encoder') if from_encoder else None,
        config=DEMO_CLASSIFIER_CONFIG, workers=sizes.workers)


def draw_detections(paths: DemoPaths, sizes: Sizes, checkpoint: str, work_dir: str,
                    filename: str) -> str:
    """Ground truth | ``checkpoint``'s detections on the first test scenes, as ``filename``."""
    return save_detection_grid(mask_rcnn_config(paths.det_data, work_dir), checkpoint,
                               osp.join(paths.work_dir, filename),
                               indices=range(min(sizes.drawn_scenes, sizes.det_scenes.test)))


def mask_rcnn(paths: DemoPaths, sizes: Sizes, name: str, from_encoder: bool) -> dict:
    """A Mask R-CNN run of the demo's budget from the zoo's encoder (with a picture of its
    detections) or from scratch."""
    values = mask_rcnn_stage(paths.stage(name), paths.det_data, sizes.need('mask_rcnn'),
                             paths.encoder('fcmae_v2_encoder') if from_encoder else None,
                             workers=sizes.workers)
    if from_encoder:
        values['picture'] = draw_detections(paths, sizes, values['checkpoint'],
                                            paths.stage(name), 'detections.png')
    return values


def upernet(paths: DemoPaths, sizes: Sizes, name: str, from_encoder: bool) -> dict:
    """An UperNet run of the demo's budget from the zoo's encoder or from scratch."""
    return upernet_stage(paths.stage(name), paths.seg_data, sizes.need('upernet'),
                         paths.encoder('fcmae_v2_encoder') if from_encoder else None,
                         workers=sizes.workers)


def zoo(paths: DemoPaths, sizes: Sizes) -> dict:
    """The zoo's trained checkpoints on the demo's test scenes (None: not in the zoo).

    FCMAE's held-out loss takes the same scenes and masks as the short run's.
    """
    work = paths.stage('zoo')
    values: dict[str, object] = dict(fcmae=None, top1=None, mask_rcnn=None, mIoU=None,
                                     pictures=[])
    checkpoint = paths.zoo('fcmae_v2')
    if checkpoint is not None:
        size = sizes.need('fcmae')
        model = load_fcmae(FCMAE_CONFIG, checkpoint)
        values['fcmae'] = fcmae_val_loss(
            model, val_scene_images(size.test_scenes, fcmae_side(size)))['val_loss']
        values['pictures'].append(save_reconstruction_grid(
            model, val_scene_images(sizes.drawn_scenes, fcmae_side(size)),
            osp.join(paths.work_dir, 'fcmae_reconstructions_zoo.png')))
    checkpoint = paths.zoo('classifier')
    if checkpoint is not None:
        values['top1'] = evaluate_classifier(
            checkpoint, osp.join(work, 'classifier'), num_workers=sizes.workers,
            num_val=sizes.need('classifier').test_scenes, config=DEMO_CLASSIFIER_CONFIG)['top1']
    checkpoint = paths.zoo('mask_rcnn')
    if checkpoint is not None:
        values['mask_rcnn'] = evaluate_mask_rcnn(paths.det_data, checkpoint,
                                                 osp.join(work, 'mask_rcnn'),
                                                 num_workers=sizes.workers)
        # The short run finds little at a score of 0.5; the trained detector shows what it
        # becomes.
        values['pictures'].append(draw_detections(paths, sizes, checkpoint,
                                                  osp.join(work, 'mask_rcnn'),
                                                  'detections_zoo.png'))
    checkpoint = paths.zoo('upernet')
    if checkpoint is not None:
        values['mIoU'] = evaluate_upernet(paths.seg_data, checkpoint, osp.join(work, 'upernet'),
                                          num_workers=sizes.workers)['mIoU']
    missing = [key for key in ('fcmae_v2', 'classifier', 'mask_rcnn', 'upernet')
               if paths.zoo(key) is None]
    values['summary'] = (f'tested {4 - len(missing)} of 4 checkpoints'
                         + (f'; {", ".join(missing)}: {NOT_IN_ZOO}' if missing else ''))
    return values


def cosine(paths: DemoPaths, sizes: Sizes) -> dict:
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
                    num_scenes=sizes.analysis_images), out_prefix=prefix,
        num_images=sizes.analysis_images, hook_pattern=CONVNEXT_MLP_HOOK_PATTERN,
        channels_last=True, title='Atto, zoo FCMAE encoders: MLP features')
    means = {label: sum(layer.mean for layer in values) / len(values)
             for label, values in layers.items()}
    return dict(picture=f'{prefix}.png', means=means, summary='mean over layers: ' + ', '.join(
        f'{label} {mean:.3f}' for label, mean in means.items()))


def demo_stages(paths: DemoPaths, sizes: Sizes) -> list[Stage]:
    """Every stage of the demo, the longest first (they share the processes in this order)."""
    stages = []
    for name, run in (('mask_rcnn', mask_rcnn), ('classifier', classifier)):
        stages += [Stage(name, functools.partial(run, paths, sizes, name, True)),
                   Stage(f'{name}_scratch',
                         functools.partial(run, paths, sizes, f'{name}_scratch', False))]
    stages.append(Stage('fcmae', functools.partial(fcmae, paths, sizes)))
    stages += [Stage('upernet', functools.partial(upernet, paths, sizes, 'upernet', True)),
               Stage('upernet_scratch',
                     functools.partial(upernet, paths, sizes, 'upernet_scratch', False)),
               Stage('zoo', functools.partial(zoo, paths, sizes)),
               Stage('cosine', functools.partial(cosine, paths, sizes))]
    return stages


def cell(value: float | None, digits: int = 1) -> str:
    """A table cell: the number, or :data:`NOT_IN_ZOO` for a zoo entry that is missing."""
    return NOT_IN_ZOO if value is None else f'{value:.{digits}f}'


def demo_table(values: dict[str, dict], seg_chance: float) -> list[tuple[str, ...]]:
    """The rows under :data:`TABLE_HEADER`, from each stage's values by stage name.

    Args:
        values: What each stage returned.
        seg_chance: The mIoU (%) of labelling every pixel background
            (:func:`~shapes_lab.chance.background_only_miou` of UperNet's scenes).
    """
    fcmae_metrics, zoo_values = values['fcmae']['metrics'], values['zoo']

    def metric(stage: str, name: str, scale: float = 1.0) -> float:
        return scale * values[stage]['metrics'][name]

    rows = [
        ('FCMAE V2 pre-training', 'held-out loss', cell(fcmae_metrics['val_loss'], 3),
         cell(fcmae_metrics['val_loss_patch_mean'], 3), '-', cell(zoo_values['fcmae'], 3)),
        ('classification', 'top-1 %', cell(metric('classifier', 'top1')), cell(CHANCE_TOP1),
         cell(metric('classifier_scratch', 'top1')), cell(zoo_values['top1'])),
    ]
    zoo_det = zoo_values['mask_rcnn']
    for task, name in (('box', 'bbox'), ('mask', 'segm')):
        key = f'{name}_mAP'
        rows.append(('Mask R-CNN', f'{task} AP %', cell(metric('mask_rcnn', key, 100)),
                     cell(CHANCE_AP), cell(metric('mask_rcnn_scratch', key, 100)),
                     cell(None if zoo_det is None else 100 * zoo_det[key])))
    rows.append(('UperNet', 'mIoU %', cell(metric('upernet', 'mIoU')), cell(seg_chance),
                 cell(metric('upernet_scratch', 'mIoU')), cell(zoo_values['mIoU'])))
    return rows


def format_table(rows: list[tuple[str, ...]], values: dict[str, dict]) -> str:
    """The table, then what its columns mean."""
    widths = [max(len(row[i]) for row in [TABLE_HEADER, *rows])
              for i in range(len(TABLE_HEADER))]
    lines = ['  '.join(text.ljust(width) for text, width in zip(row, widths)).rstrip()
             for row in [TABLE_HEADER, *rows]]
    iters = ', '.join(f'{name} {values[name]["iters"]}'
                      for name in ('fcmae', 'classifier', 'mask_rcnn', 'upernet'))
    return '\n'.join([
        *lines,
        '',
        f'demo:    short runs ({iters} iterations);',
        '         the downstream ones start from the zoo FCMAE V2 encoder',
        'chance:  a constant prediction (each patch its own mean; one class; no detections;',
        '         all background)',
        'scratch: the same short run from random weights',
        'zoo:     the zoo checkpoint, trained in full, tested on the same scenes'])

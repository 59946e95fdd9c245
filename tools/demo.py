"""The main job on the bundled data, with ConvNeXt V2-Atto on the CPU.

Stages: generate the shapes data if missing -> FCMAE pre-training (sparse encoder) and its
reconstructions -> export the encoder -> fine-tune a classifier from it with the paper's recipe
(mmpretrain) -> Mask R-CNN (mmdet) and UperNet (mmseg) from the same encoder -> a V1-style FCMAE
run and the feature cosine-distance plot of both encoders -> the loss curves and one results
table. Run with ``make demo`` (which sets up .venv first) or ``.venv/bin/python tools/demo.py``;
``--fcmae-epochs``, ``--cls-epochs``, ``--det-epochs`` and ``--seg-iters`` trade time for accuracy
(the defaults fit 25 minutes on 2 CPU cores). Stages that do not depend on each other run side
by side in ``--processes`` processes (fine-tuning with the V1-style FCMAE, Mask R-CNN with
UperNet), which share the CPU's threads between them.
"""
import argparse
import multiprocessing
import os
import os.path as osp
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Sequence, Tuple

import torch

from mmconvnextv2.analysis import (CONVNEXT_MLP_HOOK_PATTERN, ImageSource, find_loss_curve,
                                   load_image, plot_loss_curves, save_reconstruction_grid)
from mmconvnextv2.apis import (SHAPES_DETECTION_SIZE, AnalysedModel, build_runner,
                               compare_feature_diversity, load_config, set_max_epochs,
                               train_test_mask_rcnn_shapes, train_upernet_shapes)
from mmconvnextv2.converters import export_fcmae_encoder
from mmconvnextv2.datasets import (DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, SHAPE_CLASSES,
                                   ensure_shapes_dataset)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
FCMAE_V1STYLE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto-v1style_shapes.py')
CLASSIFIER_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_fcmae-ft_shapes.py')
NUM_STAGES = 7
RECONSTRUCTED_IMAGES = 4
# Mask R-CNN is the slowest stage on a CPU (a few seconds per batch of 8): the demo trains it on a
# subset; tools/analysis/train_mask_rcnn_shapes.py trains on all 1200 scenes.
DEMO_DETECTION_SCENES = dict(num_train=240, num_val=50)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=osp.join(REPO, 'data/shapes'),
                        help='where the bundled shapes data is (generated if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/demo'),
                        help='where logs, checkpoints and results go')
    parser.add_argument('--fcmae-epochs', type=int, default=6,
                        help='FCMAE epochs of each encoder, V2 and V1-style (the config: 8)')
    parser.add_argument('--cls-epochs', type=int, default=12,
                        help='fine-tuning epochs of the classifier (the config: 30)')
    parser.add_argument('--det-epochs', type=int, default=2,
                        help='Mask R-CNN training epochs over 240 scenes '
                             '(tools/analysis/train_mask_rcnn_shapes.py trains 12 over 1200)')
    parser.add_argument('--seg-iters', type=int, default=500,
                        help='UperNet training iterations (the shapes config trains 4000)')
    parser.add_argument('--analysis-images', type=int, default=200,
                        help='images for the cosine-distance analysis')
    parser.add_argument('--processes', type=int, default=2,
                        help='independent stages run side by side in this many processes '
                             '(1: one after the other)')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN,
                        help='training scenes (Mask R-CNN takes at most 240 of them)')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL,
                        help='validation scenes (Mask R-CNN takes at most 50 of them)')
    args = parser.parse_args()
    for name in ('fcmae_epochs', 'cls_epochs', 'det_epochs', 'seg_iters', 'analysis_images',
                 'processes', 'num_train', 'num_val'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    return args


def banner(stage: int, text: str, start: float) -> None:
    print(f'\n=== {stage}/{NUM_STAGES} {text} ({time.time() - start:.0f} s so far) ===', flush=True)


def pretrain(data_root: str, work_dir: str, epochs: int,
             config: str = FCMAE_CONFIG) -> Dict[str, object]:
    """FCMAE pre-training; returns the first and last logged loss, the last checkpoint, and for
    the V2 encoder the exported encoder and a picture of reconstructions of validation scenes."""
    cfg = load_config(config, work_dir,
                      {'train_dataloader.dataset.data_root': osp.join(data_root, 'cls')})
    set_max_epochs(cfg, epochs)
    runner = build_runner(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    checkpoint = osp.join(work_dir, f'epoch_{epochs}.pth')
    result = {'first_loss': float(losses[0]), 'last_loss': float(losses[-1]),
              'checkpoint': checkpoint}
    if config == FCMAE_CONFIG:  # the V1-style run is only analysed, never fine-tuned
        result['encoder'] = osp.join(work_dir, 'encoder.pth')
        export_fcmae_encoder(checkpoint, result['encoder'])
        val = osp.join(data_root, 'cls', 'val')
        scenes = sorted(osp.join(root, name) for root, _, names in os.walk(val) for name in names)
        side = next(step.scale for step in cfg.train_dataloader.dataset.pipeline
                    if step.type == 'RandomResizedCrop')  # the pre-training crop
        images = torch.stack([load_image(path, side) for path in scenes[:RECONSTRUCTED_IMAGES]])
        result['reconstructions'] = save_reconstruction_grid(
            runner.model.eval(), images, osp.join(osp.dirname(work_dir),
                                                  'fcmae_reconstructions.png'))
    return result


def finetune(data_root: str, work_dir: str, fcmae_checkpoint: str,
             epochs: int) -> Dict[str, object]:
    """Fine-tunes the classifier from an FCMAE checkpoint with the paper's recipe (layer decay,
    EMA, mixup/cutmix, RandAugment), then tests it; returns top-1 and paths."""
    options = {'model.backbone.init_cfg.checkpoint': fcmae_checkpoint}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = osp.join(data_root, 'cls')
    cfg = load_config(CLASSIFIER_CONFIG, work_dir, options)
    set_max_epochs(cfg, epochs)
    cfg.default_hooks.checkpoint.interval = epochs
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.test()
    return {'top1': metrics['accuracy/top1'], 'log_dir': runner.log_dir,
            'checkpoint': osp.join(work_dir, f'epoch_{runner.max_epochs}.pth')}


def segment(data_root: str, work_dir: str, max_iters: int, encoder: str) -> Dict[str, float]:
    """Trains and tests UperNet from the encoder; returns mIoU, mAcc and aAcc."""
    return train_upernet_shapes(data_root, work_dir, max_iters=max_iters,
                                init_checkpoint=encoder).metrics


def _limit_threads(threads: int) -> None:
    torch.set_num_threads(threads)


Job = Tuple[Callable[..., Dict], tuple]


def side_by_side(jobs: Sequence[Job], processes: int) -> List[Dict]:
    """Runs independent stages, each ``(function, args)``, in up to ``processes`` fresh processes
    that split the CPU's threads; returns their results in order. With 1, runs them here."""
    if processes == 1:
        return [function(*args) for function, args in jobs]
    workers = min(processes, len(jobs))
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn'),
                             initializer=_limit_threads, initargs=(threads, )) as pool:
        futures = [pool.submit(function, *args) for function, args in jobs]
        return [future.result() for future in futures]


def results_table(fcmae: Dict[str, object], cls: Dict[str, object], det: Dict[str, float],
                  seg: Dict[str, float], v1style: Dict[str, object]) -> List[tuple]:
    """(task, metric, value, reference) rows of the final table."""
    chance = f'{100.0 / len(SHAPE_CLASSES):.1f}'
    rows = [
        ('FCMAE pre-training V2', 'loss', f'{fcmae["first_loss"]:.3f} -> '
                                          f'{fcmae["last_loss"]:.3f}', ''),
        ('FCMAE pre-training V1-style', 'loss', f'{v1style["first_loss"]:.3f} -> '
                                                f'{v1style["last_loss"]:.3f}', ''),
        ('classification', 'top-1 %', f'{cls["top1"]:.1f}', f'chance {chance}'),
    ]
    for task in ('bbox', 'segm'):
        for name in ('mAP', 'mAP_50', 'mAP_75'):
            label = name.replace('mAP', 'AP')
            rows.append((f'Mask R-CNN {task}', f'{label} %', f'{100 * det[f"{task}_{name}"]:.1f}',
                         ''))
    rows.append(('UperNet segmentation', 'mIoU %', f'{seg["mIoU"]:.1f}', ''))
    return rows


def main() -> None:
    args = parse_args()
    start = time.time()
    work = args.work_dir

    banner(1, 'bundled shapes data (224 px for classification and segmentation, '
              f'{SHAPES_DETECTION_SIZE} px for detection)', start)
    ensure_shapes_dataset(args.data, args.num_train, args.num_val)
    det_data = f'{args.data}_{SHAPES_DETECTION_SIZE}_demo'
    ensure_shapes_dataset(det_data, size=SHAPES_DETECTION_SIZE,
                          num_train=min(args.num_train, DEMO_DETECTION_SCENES['num_train']),
                          num_val=min(args.num_val, DEMO_DETECTION_SCENES['num_val']))

    banner(2, 'FCMAE pre-training of ConvNeXt V2-Atto (sparse encoder, mmpretrain)', start)
    fcmae = pretrain(args.data, osp.join(work, 'fcmae'), args.fcmae_epochs)

    together = ' side by side' if args.processes > 1 else ''
    banner(3, 'fine-tuning the classifier from the FCMAE encoder (mmpretrain) and 4/7 FCMAE '
              f'pre-training of the V1-style encoder (no GRN, LayerScale){together}', start)
    cls, v1style = side_by_side([
        (finetune, (args.data, osp.join(work, 'classification'), fcmae['checkpoint'],
                    args.cls_epochs)),
        (pretrain, (args.data, osp.join(work, 'fcmae_v1style'), args.fcmae_epochs,
                    FCMAE_V1STYLE_CONFIG))], args.processes)

    banner(5, f'Mask R-CNN from the FCMAE encoder, {args.det_epochs} epochs (mmdet) and 6/7 '
              f'UperNet from the FCMAE encoder, {args.seg_iters} iterations (mmseg){together}',
           start)
    det, seg = side_by_side([
        (train_test_mask_rcnn_shapes, (det_data, osp.join(work, 'mask_rcnn'), args.det_epochs,
                                       None, fcmae['encoder'])),
        (segment, (args.data, osp.join(work, 'upernet'), args.seg_iters, fcmae['encoder']))],
        args.processes)

    banner(7, 'feature cosine distance of the two FCMAE encoders', start)
    plot_prefix = osp.join(work, 'cosine_distance')
    compare_feature_diversity(
        [AnalysedModel(FCMAE_CONFIG, fcmae['checkpoint'], 'FCMAE V2 (GRN)'),
         AnalysedModel(FCMAE_V1STYLE_CONFIG, v1style['checkpoint'], 'FCMAE V1-style (LayerScale)')],
        ImageSource(dataset_config=CLASSIFIER_CONFIG, data_root=osp.join(args.data, 'cls'),
                    img_size=224),
        out_prefix=plot_prefix, num_images=args.analysis_images,
        hook_pattern=CONVNEXT_MLP_HOOK_PATTERN, channels_last=True,
        title='Atto, FCMAE on shapes: MLP features (after GELU)')

    curves = plot_loss_curves(
        {label: find_loss_curve(osp.join(work, folder)) for label, folder in (
            ('FCMAE V2', 'fcmae'), ('FCMAE V1-style', 'fcmae_v1style'),
            ('fine-tuning', 'classification'), ('Mask R-CNN', 'mask_rcnn'),
            ('UperNet', 'upernet'))},
        osp.join(work, 'loss_curves.png'), title='Atto on the bundled shapes: training loss')

    print(f'\n=== results ({time.time() - start:.0f} s) ===')
    print(f'{"task":<30}{"metric":<10}{"value":>16}  reference')
    for task, metric, value, reference in results_table(fcmae, cls, det, seg, v1style):
        print(f'{task:<30}{metric:<10}{value:>16}  {reference}')
    print(f'\nencoder:         {fcmae["encoder"]}\nclassifier:      {cls["checkpoint"]}\n'
          f'reconstructions: {fcmae["reconstructions"]}\nloss curves:     {curves}\n'
          f'cosine distance: {plot_prefix}.png (.csv, .json)\nlogs:            {work}')


if __name__ == '__main__':
    main()

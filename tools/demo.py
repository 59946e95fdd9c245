"""The main job on the bundled data, with ConvNeXt V2-Atto on the CPU.

Stages: generate the shapes data if missing -> FCMAE pre-training (sparse encoder) -> export the
encoder -> fine-tune a classifier from it (mmpretrain) -> Mask R-CNN (mmdet) and UperNet (mmseg)
from the same encoder -> a V1-style FCMAE run and the feature cosine-distance plot of both encoders
-> one results table. Run with ``make demo`` (which sets up .venv first) or
``.venv/bin/python tools/demo.py``; ``--det-epochs`` and ``--seg-iters`` trade time for accuracy.
"""
import argparse
import os.path as osp
import time
from typing import Dict, List, Optional

from mmconvnextv2.analysis import CONVNEXT_MLP_HOOK_PATTERN, ImageSource
from mmconvnextv2.apis import (SHAPES_DETECTION_SIZE, AnalysedModel, build_runner,
                               compare_feature_diversity, load_config,
                               train_test_mask_rcnn_shapes, train_upernet_shapes)
from mmconvnextv2.converters import export_fcmae_encoder
from mmconvnextv2.datasets import SHAPE_CLASSES, ensure_shapes_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
FCMAE_V1STYLE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto-v1style_shapes.py')
CLASSIFIER_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_shapes.py')
NUM_STAGES = 7
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
    parser.add_argument('--det-epochs', type=int, default=4,
                        help='Mask R-CNN training epochs over 240 scenes '
                             '(tools/analysis/train_mask_rcnn_shapes.py trains 12 over 1200)')
    parser.add_argument('--seg-iters', type=int, default=800,
                        help='UperNet training iterations (the shapes config trains 4000)')
    parser.add_argument('--analysis-images', type=int, default=200,
                        help='images for the cosine-distance analysis')
    return parser.parse_args()


def banner(stage: int, text: str, start: float) -> None:
    print(f'\n=== {stage}/{NUM_STAGES} {text} ({time.time() - start:.0f} s so far) ===', flush=True)


def pretrain(data_root: str, work_dir: str, config: str = FCMAE_CONFIG) -> Dict[str, object]:
    """FCMAE pre-training; returns the first and last logged loss, the last checkpoint and the
    exported encoder."""
    cfg = load_config(config, work_dir,
                      {'train_dataloader.dataset.data_root': osp.join(data_root, 'cls')})
    runner = build_runner(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    checkpoint = osp.join(work_dir, f'epoch_{runner.max_epochs}.pth')
    result = {'first_loss': float(losses[0]), 'last_loss': float(losses[-1]),
              'checkpoint': checkpoint}
    if config == FCMAE_CONFIG:  # the V1-style run is only analysed, never fine-tuned
        result['encoder'] = osp.join(work_dir, 'encoder.pth')
        export_fcmae_encoder(checkpoint, result['encoder'])
    return result


def finetune(data_root: str, work_dir: str, encoder: Optional[str]) -> Dict[str, object]:
    """Trains and tests the classifier, from ``encoder`` if given; returns top-1 and paths."""
    options = {}
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.data_root'] = osp.join(data_root, 'cls')
    if encoder is not None:
        options['model.backbone.init_cfg'] = dict(type='Pretrained', checkpoint=encoder,
                                                  prefix='backbone.')
    runner = build_runner(load_config(CLASSIFIER_CONFIG, work_dir, options))
    runner.train()
    metrics = runner.test()
    return {'top1': metrics['accuracy/top1'], 'log_dir': runner.log_dir,
            'checkpoint': osp.join(work_dir, f'epoch_{runner.max_epochs}.pth')}


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
    ensure_shapes_dataset(args.data)
    det_data = f'{args.data}_{SHAPES_DETECTION_SIZE}_demo'
    ensure_shapes_dataset(det_data, size=SHAPES_DETECTION_SIZE, **DEMO_DETECTION_SCENES)

    banner(2, 'FCMAE pre-training of ConvNeXt V2-Atto (sparse encoder, mmpretrain)', start)
    fcmae = pretrain(args.data, osp.join(work, 'fcmae'))

    banner(3, 'fine-tuning the classifier from the FCMAE encoder (mmpretrain)', start)
    cls = finetune(args.data, osp.join(work, 'classification'), fcmae['encoder'])

    banner(4, f'Mask R-CNN from the FCMAE encoder, {args.det_epochs} epochs (mmdet)', start)
    det = train_test_mask_rcnn_shapes(det_data, osp.join(work, 'mask_rcnn'),
                                      max_epochs=args.det_epochs,
                                      init_checkpoint=fcmae['encoder'])

    banner(5, f'UperNet from the FCMAE encoder, {args.seg_iters} iterations (mmseg)', start)
    seg = train_upernet_shapes(args.data, osp.join(work, 'upernet'), max_iters=args.seg_iters,
                               init_checkpoint=fcmae['encoder']).metrics

    banner(6, 'FCMAE pre-training of the V1-style encoder (no GRN, LayerScale)', start)
    v1style = pretrain(args.data, osp.join(work, 'fcmae_v1style'), FCMAE_V1STYLE_CONFIG)

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

    print(f'\n=== results ({time.time() - start:.0f} s) ===')
    print(f'{"task":<30}{"metric":<10}{"value":>16}  reference')
    for task, metric, value, reference in results_table(fcmae, cls, det, seg, v1style):
        print(f'{task:<30}{metric:<10}{value:>16}  {reference}')
    print(f'\nencoder:         {fcmae["encoder"]}\nclassifier:      {cls["checkpoint"]}\n'
          f'cosine distance: {plot_prefix}.png (.csv, .json)\nlogs:            {work}')


if __name__ == '__main__':
    main()

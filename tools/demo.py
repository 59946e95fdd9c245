"""The main job on the bundled data, with ConvNeXt V2-Atto on the CPU.

Stages: generate the shapes data if missing -> FCMAE pre-training (sparse encoder) -> export the
encoder -> fine-tune a classifier from it (mmpretrain runner) -> test top-1 -> results table.
Run with ``make demo`` (which sets up .venv first) or ``.venv/bin/python tools/demo.py``.
"""
import argparse
import os.path as osp
import time
from typing import Dict, Optional

from mmconvnextv2.apis import build_runner, load_config
from mmconvnextv2.converters import export_fcmae_encoder
from mmconvnextv2.datasets import SHAPE_CLASSES, ensure_shapes_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FCMAE_CONFIG = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
CLASSIFIER_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_shapes.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=osp.join(REPO, 'data/shapes'),
                        help='where the bundled shapes data is (generated if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/demo'),
                        help='where logs, checkpoints and results go')
    return parser.parse_args()


def banner(text: str) -> None:
    print(f'\n=== {text} ===', flush=True)


def pretrain(data_root: str, work_dir: str) -> Dict[str, object]:
    """FCMAE pre-training; returns the first and last logged loss and the exported encoder."""
    cfg = load_config(FCMAE_CONFIG, work_dir,
                      {'train_dataloader.dataset.data_root': osp.join(data_root, 'cls')})
    runner = build_runner(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    encoder = osp.join(work_dir, 'encoder.pth')
    export_fcmae_encoder(osp.join(work_dir, f'epoch_{runner.max_epochs}.pth'), encoder)
    return {'first_loss': float(losses[0]), 'last_loss': float(losses[-1]), 'encoder': encoder}


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


def main() -> None:
    args = parse_args()
    start = time.time()

    banner('1/3 bundled shapes data')
    ensure_shapes_dataset(args.data)

    banner('2/3 FCMAE pre-training of ConvNeXt V2-Atto (sparse encoder, mmpretrain runner)')
    fcmae = pretrain(args.data, osp.join(args.work_dir, 'fcmae'))

    banner('3/3 fine-tuning ConvNeXt V2-Atto from the FCMAE encoder (mmpretrain runner)')
    cls = finetune(args.data, osp.join(args.work_dir, 'classification'), fcmae['encoder'])

    banner(f'results ({time.time() - start:.0f} s)')
    rows = [
        ('FCMAE pre-training (atto)', 'loss', f'{fcmae["first_loss"]:.3f} -> '
                                              f'{fcmae["last_loss"]:.3f}', ''),
        ('shapes classification (atto)', 'top-1 %', f'{cls["top1"]:.1f}',
         f'{100.0 / len(SHAPE_CLASSES):.1f}'),
    ]
    print(f'{"task":<32}{"metric":<10}{"value":>16}{"chance":>9}')
    for task, metric, value, chance in rows:
        print(f'{task:<32}{metric:<10}{value:>16}{chance:>9}')
    print(f'\nencoder:     {fcmae["encoder"]}\nclassifier:  {cls["checkpoint"]}\n'
          f'logs:        {cls["log_dir"]}')


if __name__ == '__main__':
    main()

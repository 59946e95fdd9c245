"""The main job on the bundled data: generate the shapes if missing, train ConvNeXt V2-Atto, test.

Run with ``make demo`` (which sets up .venv first) or ``.venv/bin/python tools/demo.py``.
Everything goes to ``--work-dir`` (default ``work_dirs/demo``); the data to ``--data``.
"""
import argparse
import os
import os.path as osp
import time

from mmconvnextv2.apis import build_runner, load_config
from mmconvnextv2.datasets import SHAPE_CLASSES, ensure_shapes_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSIFIER_CONFIG = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_shapes.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=osp.join(REPO, 'data/shapes'),
                        help='where the bundled shapes data is (generated if missing)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/demo'),
                        help='where logs, checkpoints and results go')
    parser.add_argument('--epochs', type=int, default=30, help='classifier training epochs')
    return parser.parse_args()


def banner(text: str) -> None:
    print(f'\n=== {text} ===', flush=True)


def train_classifier(data_root: str, work_dir: str, epochs: int) -> dict:
    """Trains and tests the Atto classifier; returns the test metrics and where things are."""
    cfg = load_config(CLASSIFIER_CONFIG, work_dir, {
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'default_hooks.checkpoint.interval': epochs,
        'train_dataloader.dataset.data_root': osp.join(data_root, 'cls'),
        'val_dataloader.dataset.data_root': osp.join(data_root, 'cls'),
        'test_dataloader.dataset.data_root': osp.join(data_root, 'cls'),
    })
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.test()
    return {'top1': metrics['accuracy/top1'], 'log_dir': runner.log_dir,
            'checkpoint': osp.join(work_dir, f'epoch_{epochs}.pth')}


def main() -> None:
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()

    banner('1/2 bundled shapes data')
    ensure_shapes_dataset(args.data)

    banner('2/2 ConvNeXt V2-Atto classifier (mmpretrain runner)')
    cls = train_classifier(args.data, osp.join(args.work_dir, 'classification'), args.epochs)

    chance = 100.0 / len(SHAPE_CLASSES)
    banner(f'results ({time.time() - start:.0f} s)')
    print(f'{"task":<32}{"metric":<10}{"value":>8}{"chance":>9}')
    print(f'{"shapes classification (atto)":<32}{"top-1":<10}{cls["top1"]:>8.1f}{chance:>9.1f}')
    print(f'\nlogs:        {cls["log_dir"]}\ncheckpoint:  {cls["checkpoint"]}')


if __name__ == '__main__':
    main()

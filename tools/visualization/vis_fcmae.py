"""Draw FCMAE reconstructions: original | masked input | reconstruction | reconstruction + visible.

Example:
    python tools/visualization/vis_fcmae.py configs/fcmae/fcmae_convnextv2-atto_shapes.py \
        work_dirs/demo/fcmae/epoch_20.pth --out work_dirs/demo/vis --num-images 4
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.analysis import load_image, save_reconstruction_grid


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='FCMAE config')
    parser.add_argument('checkpoint', help='FCMAE checkpoint')
    parser.add_argument('--out', required=True, help='output folder for the PNG grid')
    parser.add_argument('--images', nargs='*', help='image files (default: the first images of '
                        "the config's training set)")
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    return parser.parse_args()


def default_images(cfg: Config, count: int) -> list[str]:
    dataset = cfg.train_dataloader.dataset
    folder = osp.join(dataset.data_root, dataset.get('data_prefix', ''))
    files = sorted(osp.join(root, name) for root, _, names in os.walk(folder) for name in names
                   if name.lower().endswith(('.jpg', '.jpeg', '.png')))
    if not files:
        raise FileNotFoundError(f'No images under {folder}; pass --images.')
    return files[:count]


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    # The runner merges the top-level data_preprocessor into the model; do the same.
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    paths = args.images or default_images(cfg, args.num_images)
    crop = cfg.train_pipeline[1].get('scale', 224)
    size = crop if isinstance(crop, int) else crop[0]
    raw = torch.stack([load_image(path, size) for path in paths])
    out = save_reconstruction_grid(model, raw,
                                   osp.join(args.out, 'fcmae_reconstructions.png'), args.seed)
    print(f'{len(paths)} images (original | masked | reconstruction | visible pasted) -> {out}')


if __name__ == '__main__':
    main()

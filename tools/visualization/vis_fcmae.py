"""Draw FCMAE reconstructions: original | masked input | reconstruction | reconstruction + visible.

Example:
    python tools/visualization/vis_fcmae.py configs/fcmae/fcmae_convnextv2-atto_shapes.py \
        work_dirs/demo/fcmae/epoch_20.pth --out work_dirs/demo/vis --num-images 4
"""
import argparse
import os
import os.path as osp
from typing import List

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS, TRANSFORMS
from PIL import Image

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.models.heads import patchify, unpatchify


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


def default_images(cfg: Config, count: int) -> List[str]:
    dataset = cfg.train_dataloader.dataset
    folder = osp.join(dataset.data_root, dataset.get('data_prefix', ''))
    files = sorted(osp.join(root, name) for root, _, names in os.walk(folder) for name in names
                   if name.lower().endswith(('.jpg', '.jpeg', '.png')))
    if not files:
        raise FileNotFoundError(f'No images under {folder}; pass --images.')
    return files[:count]


def load_batch(cfg: Config, paths: List[str], size: int) -> torch.Tensor:
    """Images resized to ``size`` (divisible by 32) as an (N, 3, size, size) uint8-range batch."""
    pipeline = Compose([TRANSFORMS.build(t) for t in (
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(size, size), backend='pillow', interpolation='bicubic'),
        dict(type='PackInputs'))])
    return torch.stack([pipeline(dict(img_path=path))['inputs'] for path in paths]).float()


def to_pixels(normalised: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> np.ndarray:
    """(3, H, W) normalised RGB -> (H, W, 3) uint8."""
    image = normalised * std + mean
    return image.clamp(0, 255).byte().permute(1, 2, 0).numpy()


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
    raw = load_batch(cfg, paths, size)
    preprocessor = model.data_preprocessor
    # The pipeline loads BGR; the preprocessor flips to RGB and normalises, as in training.
    images = preprocessor(dict(inputs=raw, data_samples=None))['inputs']
    mean, std = preprocessor.mean, preprocessor.std
    with torch.no_grad():
        mask = model.draw_mask(images, generator=torch.Generator().manual_seed(args.seed))
        pred = model.reconstruct(images, mask).flatten(2).transpose(1, 2)
    p, grid = model.patch_size, mask.shape[1:]
    target = patchify(images, p)
    if model.head.norm_pix:
        # Undo the per-patch normalisation with each patch's own statistics, as MAE shows it.
        pred = pred * (target.var(-1, keepdim=True) + model.head.eps).sqrt() + \
            target.mean(-1, keepdim=True)
    removed = mask.flatten(1).unsqueeze(-1)
    recon = unpatchify(pred, p, grid)
    masked = unpatchify(target * (1 - removed), p, grid)
    pasted = unpatchify(target * (1 - removed) + pred * removed, p, grid)
    rows = [np.concatenate([to_pixels(t[i], mean, std) for t in (images, masked, recon, pasted)],
                           axis=1) for i in range(len(paths))]
    os.makedirs(args.out, exist_ok=True)
    out = osp.join(args.out, 'fcmae_reconstructions.png')
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)
    print(f'{len(paths)} images (original | masked | reconstruction | visible pasted) -> {out}')


if __name__ == '__main__':
    main()

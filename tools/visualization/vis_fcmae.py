"""Draw FCMAE reconstructions: original | masked input | reconstruction | reconstruction + visible.

Without ``--images``: validation scenes for the bundled shapes configs, else the first images of
the config's training folder.

Example:
    python tools/visualization/vis_fcmae.py configs/fcmae/fcmae_convnextv2-atto_shapes.py \\
        work_dirs/demo/fcmae/epoch_8.pth --out work_dirs/demo/vis --num-images 4
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import mmconvnextv2.models  # noqa: F401
from mmconvnextv2.analysis import load_image, save_reconstruction_grid
from mmconvnextv2.datasets import draw_dataset_scene
from mmconvnextv2.utils.checkpoint import load_source


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


def default_images(cfg: Config, count: int, size: int) -> torch.Tensor:
    """(count, 3, size, size) uint8 BGR images: validation scenes or the training folder's."""
    dataset = cfg.train_dataloader.dataset
    if dataset.type.endswith('ShapesClsDataset'):
        scenes = [draw_dataset_scene(dataset.get('seed', 0), 'val', i, size).image[..., ::-1]
                  for i in range(count)]
        return torch.stack([torch.from_numpy(scene.copy()).permute(2, 0, 1) for scene in scenes])
    folder = osp.join(dataset.data_root, dataset.get('data_prefix', ''))
    files = sorted(osp.join(root, name) for root, _, names in os.walk(folder) for name in names
                   if name.lower().endswith(('.jpg', '.jpeg', '.png')))
    if not files:
        raise FileNotFoundError(f'No images under {folder}; pass --images.')
    return torch.stack([load_image(path, size) for path in files[:count]])


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    # The runner merges the top-level data_preprocessor into the model; do the same.
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(cfg.model).eval()
    model.load_state_dict(load_source(args.checkpoint))
    crop = next(step.scale for step in cfg.train_dataloader.dataset.pipeline
                if step.type == 'RandomResizedCrop')  # the pre-training side
    size = crop if isinstance(crop, int) else crop[0]
    raw = (torch.stack([load_image(path, size) for path in args.images]) if args.images
           else default_images(cfg, args.num_images, size))
    out = save_reconstruction_grid(model, raw,
                                   osp.join(args.out, 'fcmae_reconstructions.png'), args.seed)
    print(f'{len(raw)} images (original | masked | reconstruction | visible pasted) -> {out}')


if __name__ == '__main__':
    main()

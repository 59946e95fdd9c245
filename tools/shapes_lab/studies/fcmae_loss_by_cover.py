"""FCMAE's loss on the removed patches of validation scenes, by how much of each a shape covers.

Beside the model's loss, two references: predicting each patch's own mean (zero in the normalised
target) scores 1.0; predicting each patch's own colour (its per-channel means) and nothing of
where anything lies inside it scores the colour-only loss. A model that paints a shape's colour
into a removed patch gets near the colour-only loss; only one that also draws where the shape's
edge runs gets below it.

Example:
    python tools/shapes_lab/studies/fcmae_loss_by_cover.py \\
        configs/fcmae/fcmae_convnextv2-atto_shapes.py zoo/fcmae_convnextv2-atto_shapes.pth \\
        --num-scenes 240
"""
import argparse
import os.path as osp
import sys

# shapes_lab is in tools/, two folders above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmconvnextv2.datasets import draw_dataset_scene  # noqa: E402
from mmconvnextv2.utils import load_config  # noqa: E402
from shapes_lab.configs import train_crop  # noqa: E402
from shapes_lab.cover import loss_by_shape_cover  # noqa: E402
from shapes_lab.fcmae import load_fcmae  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='FCMAE config of the bundled shapes')
    parser.add_argument('checkpoint', help='FCMAE checkpoint with its decoder (not an encoder)')
    parser.add_argument('--num-scenes', type=int, default=240, help='validation scenes')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random masks')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    dataset = cfg.train_dataloader.dataset
    if not dataset.type.endswith('ShapesClsDataset'):
        raise ValueError(f'{args.config} pre-trains on {dataset.type}; the shape cover of a '
                         'patch is known for the bundled shapes (ShapesClsDataset) only.')
    scale = train_crop(cfg).scale
    size = scale if isinstance(scale, int) else scale[0]
    model = load_fcmae(args.config, args.checkpoint)
    scenes = [draw_dataset_scene(dataset.get('seed', 0), 'val', i, size)
              for i in range(args.num_scenes)]
    raw = torch.stack([torch.from_numpy(scene.image[..., ::-1].copy()).permute(2, 0, 1)
                       for scene in scenes]).float()  # BGR, as the pipeline packs a file
    shapes = torch.from_numpy(np.stack([scene.label_map() > 1 for scene in scenes]))
    images = model.data_preprocessor(dict(inputs=raw, data_samples=None))['inputs']
    mask = model.draw_mask(images, generator=torch.Generator().manual_seed(args.seed))
    bins = loss_by_shape_cover(model, images, shapes, mask)
    print(f'{args.num_scenes} validation scenes at {size}², mask seed {args.seed}\n')
    print('| removed patches | count | loss | colour-only loss |\n|---|---|---|---|')
    for name, row in bins.items():
        print(f'| {name} | {row.count} | {row.loss:.3f} | {row.colour_only:.3f} |')


if __name__ == '__main__':
    main()

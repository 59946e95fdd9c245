"""What the three image demos share: their command line and their default picture, a scene of the
bundled shapes data at the size the zoo model was tested on."""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import ConfigDict
from PIL import Image

from mmconvnextv2.datasets import draw_dataset_scene

# The default picture: the first validation scene of the zoo's data (seed 0).
SCENE_SEED, SCENE_SPLIT, SCENE_INDEX = 0, 'val', 0


def demo_parser(description: str, default_model: str) -> argparse.ArgumentParser:
    """The arguments every demo takes: IMG, --model, --device and --out-dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('img', nargs='?',
                        help='the picture; default: a bundled shapes scene, written to --out-dir')
    parser.add_argument('--model', default=default_model,
                        help=f'a zoo name (model-index.yml); default: {default_model}')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the model runs, e.g. cpu or cuda:0')
    parser.add_argument('--out-dir', default='outputs',
                        help='where the drawn prediction (vis/) and the default scene go')
    return parser


def scene_size(dataset: ConfigDict) -> int:
    """The side of the scenes a shapes test data set renders (``size``) or reads (``scenes``).

    Raises:
        ValueError: If the data set is not one of the bundled shapes.
    """
    if 'size' in dataset:
        return int(dataset.size)
    if dataset.get('scenes') is not None:
        return int(dataset.scenes.size)
    raise ValueError(f'The model is not tested on the bundled shapes (its test data set is '
                     f'{dataset.type}), so there is no default scene for it: give IMG.')


def write_scene(out_dir: str, size: int) -> str:
    """Writes the default scene at ``size`` pixels as a PNG into ``out_dir``; returns its path."""
    scene = draw_dataset_scene(SCENE_SEED, SCENE_SPLIT, SCENE_INDEX, size)
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, f'shapes_{SCENE_SPLIT}_{SCENE_INDEX:06d}_{size}px.png')
    Image.fromarray(scene.image).save(path)
    return path

"""Label every pixel of a picture with a zoo UperNet through mmseg's MMSegInferencer.

Prints the share of the picture each predicted class covers and writes the picture with the
label map drawn over it to OUT_DIR/vis/ (the label map itself to OUT_DIR/pred/). Without IMG, it
reads a bundled shapes scene, written to OUT_DIR first. mmseg loads the zoo's weights by their
path in the metafile, relative to the repository root: run it from there, or give --weights.

Example:
    python demo/seg_image_demo.py                 # the zoo UperNet on a bundled scene
    python demo/seg_image_demo.py my.jpg --opacity 0.5
"""
import os

import numpy as np
from mmseg.apis import MMSegInferencer
from shapes_scene import demo_parser, scene_size, write_scene

from mmconvnextv2.apis.inference import register_zoo
from mmconvnextv2.utils import SCOPE

DEFAULT_MODEL = 'convnextv2-atto_upernet_shapes'


def main(argv: list[str] | None = None) -> np.ndarray:
    """Runs the demo with the command line ``argv``; returns the predicted label map."""
    parser = demo_parser(__doc__.splitlines()[0], DEFAULT_MODEL)
    parser.add_argument('--weights', help="the checkpoint; default: the zoo model's")
    parser.add_argument('--opacity', type=float, default=0.8,
                        help='opacity of the drawn label map, in (0, 1]')
    args = parser.parse_args(argv)
    register_zoo()
    inferencer = MMSegInferencer(args.model, weights=args.weights, device=args.device, scope=SCOPE)
    img = args.img or write_scene(args.out_dir, scene_size(inferencer.cfg.test_dataloader.dataset))
    os.makedirs(args.out_dir, exist_ok=True)
    label_map = inferencer(img, out_dir=args.out_dir, opacity=args.opacity)['predictions']
    classes = inferencer.model.dataset_meta['classes']
    print(f'{img}: drawn in {os.path.join(args.out_dir, "vis")}')
    labels, counts = np.unique(label_map, return_counts=True)
    for label, count in zip(labels, counts):
        print(f'  {classes[label]:<10} {count / label_map.size:6.1%} of the pixels')
    return label_map


if __name__ == '__main__':
    main()

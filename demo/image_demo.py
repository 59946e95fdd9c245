"""Classify a picture with a zoo classifier through mmpretrain's ImageClassificationInferencer.

Prints the predicted class and its score and writes the picture with them drawn on it to
OUT_DIR/vis/. Without IMG, it classifies a bundled shapes scene, written to OUT_DIR first.

Example:
    python demo/image_demo.py                     # the zoo classifier on a bundled scene
    python demo/image_demo.py my.jpg --device cuda:0
"""
import os
import os.path as osp

from mmpretrain import ImageClassificationInferencer
from shapes_scene import demo_parser, scene_size, write_scene

from mmconvnextv2.apis.inference import register_zoo

DEFAULT_MODEL = 'convnextv2-atto_shapes'


def main(argv: list[str] | None = None) -> dict:
    """Runs the demo with the command line ``argv``; returns the inferencer's prediction."""
    args = demo_parser(__doc__.splitlines()[0], DEFAULT_MODEL).parse_args(argv)
    register_zoo()
    inferencer = ImageClassificationInferencer(args.model, device=args.device)
    img = args.img or write_scene(args.out_dir,
                                  scene_size(inferencer.config.test_dataloader.dataset))
    os.makedirs(args.out_dir, exist_ok=True)
    prediction = inferencer(img, show_dir=osp.join(args.out_dir, 'vis'))[0]
    print(f'{img}: {prediction["pred_class"]} ({prediction["pred_score"]:.3f}); drawn in '
          f'{osp.join(args.out_dir, "vis")}')
    return prediction


if __name__ == '__main__':
    main()

"""Detect and segment the instances of a picture with a zoo Mask R-CNN through mmdet's
DetInferencer.

Prints each instance scored at least --score-thr (class, score, box) and writes the picture with
the boxes and masks drawn on it to OUT_DIR/vis/. Without IMG, it reads a bundled shapes scene,
written to OUT_DIR first. mmdet loads the zoo's weights by their path in the metafile, relative to
the repository root: run it from there, or give --weights.

Example:
    python demo/det_image_demo.py                 # the zoo Mask R-CNN on a bundled scene
    python demo/det_image_demo.py my.jpg --score-thr 0.5
"""
import os

from mmdet.apis import DetInferencer
from shapes_scene import demo_parser, scene_size, write_scene

from mmconvnextv2.apis.inference import register_zoo
from mmconvnextv2.utils import SCOPE

DEFAULT_MODEL = 'mask-rcnn_convnextv2-atto_fpn_shapes'


def main(argv: list[str] | None = None) -> dict:
    """Runs the demo with the command line ``argv``; returns the inferencer's prediction."""
    parser = demo_parser(__doc__.splitlines()[0], DEFAULT_MODEL)
    parser.add_argument('--weights', help="the checkpoint; default: the zoo model's")
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='the lowest score printed and drawn')
    args = parser.parse_args(argv)
    register_zoo()
    inferencer = DetInferencer(args.model, weights=args.weights, device=args.device, scope=SCOPE,
                               show_progress=False)
    img = args.img or write_scene(args.out_dir, scene_size(inferencer.cfg.test_dataloader.dataset))
    os.makedirs(args.out_dir, exist_ok=True)
    prediction = inferencer(img, out_dir=args.out_dir,
                            pred_score_thr=args.score_thr)['predictions'][0]
    classes = inferencer.model.dataset_meta['classes']
    print(f'{img}: drawn in {os.path.join(args.out_dir, "vis")}')
    for label, score, box in zip(prediction['labels'], prediction['scores'], prediction['bboxes']):
        if score >= args.score_thr:
            print(f'  {classes[label]:<10} {score:.3f}  box {[round(v, 1) for v in box]}')
    return prediction


if __name__ == '__main__':
    main()

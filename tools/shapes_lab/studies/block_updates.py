"""How much each residual block changes its input, ``||block(x) - x|| / ||x||``, per model.

For each model, every block that ``--hook-pattern`` matches (by default every ConvNeXt block) and
``--num-images`` images taken round-robin over the classes: the mean over the images of the
block's relative update. Near 0: the block passes its input on almost unchanged. Prints one row
per block, one column per model, and writes them as JSON with ``--out``.

Example (the zoo's FCMAE encoders on 120 validation scenes; docs/analysis.md)::

    python tools/shapes_lab/studies/block_updates.py \\
        --model configs/fcmae/fcmae_convnextv2-atto_shapes.py \\
            zoo/fcmae_convnextv2-atto_shapes_encoder.pth V2 \\
        --model configs/fcmae/fcmae_convnextv2-atto-v1style_shapes.py \\
            zoo/fcmae_convnextv2-atto-v1style_shapes_encoder.pth V1-style \\
        --dataset-config configs/convnextv2/convnextv2-atto_shapes.py --num-images 120
"""
import argparse
import json

import torch

from mmconvnextv2.analysis import (CONVNEXT_BLOCK_PATTERN, ImageSource, block_update_ratios,
                                   build_model, dataset_labels, load_images, preprocess,
                                   round_robin_indices)
from mmconvnextv2.utils import atomic_write_text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('CONFIG', 'CHECKPOINT', 'LABEL'),
                        help='a model to measure (repeat for more)')
    parser.add_argument('--dataset-config', required=True,
                        help="a config whose <split>_dataloader's data set gives the images")
    parser.add_argument('--split', default='val', choices=('val', 'test', 'train'))
    parser.add_argument('--img-size', type=int,
                        help="resize and centre-crop to this size (default: the config's pipeline)")
    parser.add_argument('--num-images', type=int, default=120,
                        help='images taken round-robin over the classes')
    parser.add_argument('--batch-size', type=int, default=40)
    parser.add_argument('--hook-pattern', default=CONVNEXT_BLOCK_PATTERN,
                        help='full-match regex of the residual blocks to measure')
    parser.add_argument('--out', help='also write {label: {block: mean ratio}} to this JSON file')
    return parser.parse_args()


def mean_ratios(config: str, checkpoint: str, images: torch.Tensor, batch_size: int,
                hook_pattern: str) -> dict[str, float]:
    """Each block's relative update, averaged over ``images`` (uint8 BGR)."""
    model = build_model(config, checkpoint)
    per_image: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images), batch_size):
        inputs = preprocess(model, images[start:start + batch_size])
        for name, ratios in block_update_ratios(model, inputs, hook_pattern).items():
            per_image.setdefault(name, []).append(ratios)
    return {name: float(torch.cat(values).mean()) for name, values in per_image.items()}


def main() -> None:
    args = parse_args()
    if args.num_images < 1 or args.batch_size < 1:
        raise SystemExit('--num-images and --batch-size must be at least 1.')
    dataset = ImageSource(dataset_config=args.dataset_config, split=args.split,
                          img_size=args.img_size).build()
    images = load_images(dataset, round_robin_indices(dataset_labels(dataset), args.num_images))
    results = {}
    for config, checkpoint, label in args.model:
        print(f'block_updates: {label} ({checkpoint}) on {len(images)} images', flush=True)
        results[label] = mean_ratios(config, checkpoint, images, args.batch_size,
                                     args.hook_pattern)
    blocks = list(next(iter(results.values())))
    print('| block | ' + ' | '.join(results) + ' |')
    print('|---|' + '---|' * len(results))
    for block in blocks:
        cells = [f'{ratios[block]:.3f}' if block in ratios else '–' for ratios in results.values()]
        print(f'| {block} | ' + ' | '.join(cells) + ' |')
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=1))
        print(f'written: {args.out}')


if __name__ == '__main__':
    main()

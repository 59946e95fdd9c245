"""Channel feature maps of one layer for one image, with dead and saturated channel fractions.

Draws the paper's feature-map figure: a grid of the first ``--channels`` channel maps of the
layer's output (a ViT layer's tokens laid out on the patch grid) on one shared colour scale, dead
channels framed red and saturated ones orange, and prints and saves (JSON) the fraction of dead
(all about zero) and saturated (about constant) channels among all the layer's channels;
definitions in ``mmconvnextv2/analysis/activations.py``.

Examples::

    # The MLP features of the last block of stage 3 of an FCMAE encoder, first validation scene.
    python tools/analysis/visualize_activations.py configs/fcmae/fcmae_convnextv2-atto_shapes.py \\
        work_dirs/fcmae_convnextv2-atto_shapes/epoch_8.pth \\
        --dataset-config configs/convnextv2/convnextv2-atto_shapes.py --index 0 \\
        --layer backbone.stages.2.5.act --channels-last --out-dir work_dirs/activations
    # A block output for any image file.
    python tools/analysis/visualize_activations.py CONFIG CKPT --image cat.jpg \\
        --layer backbone.stages.2.5
    # The hookable layer names.
    python tools/analysis/visualize_activations.py CONFIG CKPT --list-layers
"""
import argparse
import json
import math
import os
import os.path as osp

import torch

from mmconvnextv2.analysis import (DEAD_TOL, DEFAULT_HOOK_PATTERN, SATURATED_TOL, ImageSource,
                                   backbone_forward, build_model, channel_matrix,
                                   channel_statistics, find_hook_points, load_image,
                                   num_extra_tokens, plot_channel_grid, preprocess, record_outputs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='the model config')
    parser.add_argument('checkpoint', help="its checkpoint, or 'none' for a random initialisation")
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--image', help='an image file')
    source.add_argument('--dataset-config', help='take the image from this config\'s data set')
    parser.add_argument('--split', default='val', choices=('val', 'test', 'train'))
    parser.add_argument('--data-root', help="override the config data set's data_root")
    parser.add_argument('--index', type=int, default=0, help='item of the data set')
    parser.add_argument('--img-size', type=int, default=224,
                        help='short side resized and centre-cropped to this size')
    parser.add_argument('--layer', help='module name (default: the last hookable layer)')
    parser.add_argument('--list-layers', action='store_true',
                        help='print the hookable layer names and stop')
    parser.add_argument('--hook-pattern', default=DEFAULT_HOOK_PATTERN,
                        help='full-match regex of the hookable layer names')
    parser.add_argument('--channels-last', action='store_true',
                        help='the layer outputs (B, H, W, C), e.g. backbone.stages.2.5.act')
    parser.add_argument('--channels', type=int, default=64, help='channel maps drawn')
    parser.add_argument('--dead-tol', type=float, default=DEAD_TOL)
    parser.add_argument('--saturated-tol', type=float, default=SATURATED_TOL)
    parser.add_argument('--out-dir', default='work_dirs/activations')
    args = parser.parse_args()
    if not args.list_layers and args.image is None and args.dataset_config is None:
        parser.error('give the image: --image or --dataset-config')
    return args


def read_image(args: argparse.Namespace) -> torch.Tensor:
    """The (3, S, S) uint8 image from --image or the data set item --index."""
    if args.image is not None:
        return load_image(args.image, args.img_size)
    dataset = ImageSource(dataset_config=args.dataset_config, split=args.split,
                          img_size=args.img_size, data_root=args.data_root).build()
    if not 0 <= args.index < len(dataset):
        raise ValueError(f'--index must be in [0, {len(dataset)}), got {args.index}')
    return dataset[args.index]['inputs']


def grid_shape(model: torch.nn.Module, positions: int) -> tuple:
    """(h, w) of M token positions: the backbone's patch grid, else the square."""
    resolution = getattr(model.backbone, 'patch_resolution', None)
    if resolution is not None and resolution[0] * resolution[1] == positions:
        return tuple(resolution)
    side = math.isqrt(positions)
    if side * side != positions:
        raise ValueError(f'Cannot lay {positions} tokens out on a grid.')
    return side, side


def main() -> None:
    args = parse_args()
    model = build_model(args.config, None if args.checkpoint == 'none' else args.checkpoint)
    names = find_hook_points(model, args.hook_pattern)
    if args.list_layers:
        print('\n'.join(names))
        return
    layer = args.layer or names[-1]
    image = read_image(args)
    with torch.no_grad(), record_outputs(model, [layer]) as outputs:
        backbone_forward(model, preprocess(model, image[None]))
    feature = outputs[layer]
    maps = channel_matrix(feature, num_extra_tokens(model), args.channels_last)[0]  # (C, M)
    stats = channel_statistics(maps, args.dead_tol, args.saturated_tol)
    if feature.dim() == 4:
        h, w = feature.shape[1:3] if args.channels_last else feature.shape[2:]
    else:
        h, w = grid_shape(model, maps.shape[1])

    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, f'activations_{layer.replace(".", "_")}')
    shown = min(args.channels, maps.shape[0])
    plot_channel_grid(maps[:shown].reshape(shown, h, w), stats, f'{stem}.png',
                      f'{layer}: {shown} of {maps.shape[0]} channels; dead '
                      f'{stats.dead_fraction:.1%} (red), saturated {stats.saturated_fraction:.1%}'
                      ' (orange)')
    summary = dict(config=args.config, checkpoint=args.checkpoint, layer=layer,
                   image=args.image or f'{args.dataset_config} {args.split}[{args.index}]',
                   map_size=[h, w], dead_tol=args.dead_tol, saturated_tol=args.saturated_tol,
                   **stats.summary())
    with open(f'{stem}.json', 'w') as file:
        json.dump(summary, file, indent=2)
    print(f'{layer}: {maps.shape[0]} channels, dead {stats.dead_fraction:.1%}, saturated '
          f'{stats.saturated_fraction:.1%}\nwrote {stem}.png and {stem}.json')


if __name__ == '__main__':
    main()

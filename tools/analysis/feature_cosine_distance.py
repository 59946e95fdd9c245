"""Per-layer feature cosine distance of one or more models: the paper's feature-collapse plot.

For every hooked layer (by default every ConvNeXt block and every ViT encoder layer) and every
image, the average pairwise cosine distance between the layer's channels,
``(1/C^2) sum_ij (1 - cos(X_i, X_j)) / 2`` with X_i the flattened H*W map of channel i (a ViT
channel: its values over the patch tokens), averaged over N images taken round-robin over the
classes. Higher means more diverse channels; collapse drives it down. Writes ``<out>.csv``,
``<out>.json`` (model, layer, relative depth, mean, std, channels, dead fraction) and ``<out>.png``
(relative depth against distance, one line per model). Dead channels: see
``mmconvnextv2/analysis/cosine_distance.py``.

Examples::

    # FCMAE V2 and V1-style Atto encoders on the bundled shapes, MLP features inside the blocks
    # (docs/analysis.md).
    python tools/analysis/feature_cosine_distance.py \\
        --model configs/fcmae/fcmae_convnextv2-atto_shapes.py v2/epoch_8.pth "FCMAE V2" \\
        --model configs/fcmae/fcmae_convnextv2-atto-v1style_shapes.py v1/epoch_8.pth "FCMAE V1" \\
        --dataset-config configs/convnextv2/convnextv2-atto_shapes.py --img-size 224 \\
        --hook-pattern 'backbone\\.stages\\.\\d+\\.\\d+\\.act' --channels-last \\
        --out work_dirs/analysis/cosine_distance_shapes
    # Supervised ConvNeXt V1 and MAE ViT from mmpretrain on 1000 ImageNet-1K val images, every
    # block / encoder layer (the default hook points).
    python tools/analysis/feature_cosine_distance.py \\
        --model mmpretrain::convnext/convnext-base_32xb128_in1k.py convnext.pth "supervised V1" \\
        --model mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py mae.pth "MAE" \\
        --dataset-config mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py
"""
import argparse

from mmconvnextv2.analysis import (DEAD_EPS, DEFAULT_HOOK_PATTERN, AnalysedModel, ImageSource,
                                   compare_feature_diversity)

NO_CHECKPOINT = 'none'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('CONFIG', 'CHECKPOINT', 'LABEL'),
                        help=f'a model to analyse (repeat for more); CHECKPOINT {NO_CHECKPOINT!r} '
                             'keeps the random initialisation')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--dataset-config', help="a config whose <split>_dataloader's data set "
                                                 'gives the images')
    source.add_argument('--image-folder', help='a folder of images, one sub-folder per class')
    parser.add_argument('--split', default='val', choices=('val', 'test', 'train'),
                        help='the dataloader of --dataset-config to read')
    parser.add_argument('--data-root', help="override the config data set's data_root")
    parser.add_argument('--img-size', type=int,
                        help='resize the short side and centre-crop to this size (default: the '
                             "config's pipeline; 224 for a folder)")
    parser.add_argument('--num-images', type=int, default=1000,
                        help='images taken round-robin over the classes')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--hook-pattern', default=DEFAULT_HOOK_PATTERN,
                        help='full-match regex of the module names to measure')
    parser.add_argument('--channels-last', action='store_true',
                        help='hooked 4-D outputs are (B, H, W, C), e.g. the MLP inside a ConvNeXt '
                             r'block: --hook-pattern "backbone\.stages\.\d+\.\d+\.act"')
    parser.add_argument('--centre', action='store_true',
                        help="subtract each channel's mean over the positions first: compares "
                             'spatial patterns only, so a constant offset shared by the channels '
                             'does not read as collapse')
    parser.add_argument('--dead-eps', type=float, default=DEAD_EPS,
                        help='a channel with norm <= this x the largest channel norm is dead')
    parser.add_argument('--seed', type=int, default=0, help='seeds the choice within a class')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--title', default='', help="the plot's title")
    parser.add_argument('--out', default='work_dirs/analysis/cosine_distance',
                        help='output prefix: writes OUT.csv, OUT.json and OUT.png')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    models = [AnalysedModel(config, None if checkpoint == NO_CHECKPOINT else checkpoint, label)
              for config, checkpoint, label in args.model]
    images = ImageSource(dataset_config=args.dataset_config, image_folder=args.image_folder,
                         split=args.split, img_size=args.img_size, data_root=args.data_root)
    results = compare_feature_diversity(
        models, images, args.out, num_images=args.num_images, batch_size=args.batch_size,
        hook_pattern=args.hook_pattern, dead_eps=args.dead_eps,
        channels_last=args.channels_last, centre=args.centre, seed=args.seed,
        device=args.device, title=args.title)
    print(f'{"model":<24}{"layers":>7}{"first":>8}{"last":>8}{"mean":>8}')
    for label, layers in results.items():
        means = [layer.mean for layer in layers]
        print(f'{label:<24}{len(layers):>7}{means[0]:>8.3f}{means[-1]:>8.3f}'
              f'{sum(means) / len(means):>8.3f}')


if __name__ == '__main__':
    main()

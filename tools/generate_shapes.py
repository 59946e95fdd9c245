"""Generate the bundled synthetic shapes data in the classification, COCO and ADE20K layouts.

Skips the work when the output folder already holds a complete set generated with the same
arguments (its manifest is written last); regenerates when the arguments differ.

Examples:
    python tools/generate_shapes.py                      # 1200 train + 200 val into data/shapes
    python tools/generate_shapes.py --out /tmp/shapes --num-train 1000 --num-val 200 --seed 1
"""
import argparse
import os.path as osp
import time

from mmconvnextv2.datasets import DEFAULT_NUM_TRAIN, DEFAULT_NUM_VAL, ensure_shapes_dataset

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=osp.join(REPO, 'data/shapes'), help='output folder')
    parser.add_argument('--num-train', type=int, default=DEFAULT_NUM_TRAIN,
                        help='number of training scenes')
    parser.add_argument('--num-val', type=int, default=DEFAULT_NUM_VAL,
                        help='number of validation scenes')
    parser.add_argument('--seed', type=int, default=0, help='data set seed')
    parser.add_argument('--size', type=int, default=224, help='image side in pixels')
    parser.add_argument('--force', action='store_true', help='regenerate even if complete')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.time()
    paths = ensure_shapes_dataset(args.out, num_train=args.num_train, num_val=args.num_val,
                                  seed=args.seed, size=args.size, force=args.force)
    print(f'done in {time.time() - start:.1f} s')
    print(f'classification (mmpretrain CustomDataset): {paths["cls"]}')
    print(f'instances (COCO, mmdet CocoDataset):        {paths["coco"]}')
    print(f'segmentation (ADE20K, ShapesSegDataset):    {paths["ade"]}')


if __name__ == '__main__':
    main()

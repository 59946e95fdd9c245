"""Write a run's checkpoint to the model zoo of the bundled data: float16 weights + provenance.

Prints the metafile fields the entry needs (Weights, sha256, size) beside the provenance given.

Example:
    python tools/model_converters/publish_to_zoo.py work_dirs/fcmae/epoch_4.pth \\
        zoo/fcmae_convnextv2-atto_shapes_encoder.pth --encoder-only \\
        --config configs/fcmae/fcmae_convnextv2-atto_shapes.py \\
        --command "tools/train.py configs/fcmae/fcmae_convnextv2-atto_shapes.py" --commit 4472b3b
"""
import argparse

from mmconvnextv2.converters.zoo import publish_to_zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help="the run's checkpoint")
    parser.add_argument('dst', help='the zoo file')
    parser.add_argument('--encoder-only', action='store_true',
                        help='keep the encoder of an FCMAE run, drop its decoder')
    parser.add_argument('--config', required=True, help='the config it was trained with')
    parser.add_argument('--command', required=True, help='the exact training command')
    parser.add_argument('--commit', required=True, help='the commit it was trained at')
    args = parser.parse_args()
    meta = dict(config=args.config, command=args.command, commit=args.commit)
    zoo_file = publish_to_zoo(args.src, args.dst, args.encoder_only, meta)
    print(f'Weights: {zoo_file.path}\nsha256: {zoo_file.sha256}\n'
          f'size: {zoo_file.size_bytes / 1e6:.2f} MB, {zoo_file.num_tensors} tensors')


if __name__ == '__main__':
    main()

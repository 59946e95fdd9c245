"""Export the encoder of an FCMAE checkpoint as a ConvNeXt V2 backbone checkpoint.

The output holds ``backbone.*`` keys only, so it initialises a classifier (``load_from``) or any
detector / segmentor backbone, also through mmengine's
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. Our configs'
``mmconvnextv2.ConvNeXtV2Pretrained`` reads the FCMAE checkpoint itself as well.
Sources: our FCMAE runs (``backbone.*`` = the sparse encoder, which has the dense keys; the decoder
``neck.*`` and the seeded masks' step count ``mask_step`` are dropped) and the official
``*_fcmae.pt`` files (through the checkpoint converter).

Example:
    python tools/model_converters/fcmae_to_backbone.py work_dirs/fcmae/epoch_20.pth encoder.pth
"""
import argparse

from mmconvnextv2.converters import export_fcmae_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='FCMAE checkpoint (ours or an official *_fcmae.pt)')
    parser.add_argument('dst', help='output backbone checkpoint')
    args = parser.parse_args()
    result = export_fcmae_encoder(args.src, args.dst)
    print(f'{args.src} ({result.format}, arch {result.arch or result.channels}) -> {args.dst}: '
          f'{len(result.state_dict)} backbone tensors kept, {len(result.dropped)} decoder and '
          'FCMAE-state tensors dropped')


if __name__ == '__main__':
    main()

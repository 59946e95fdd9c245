"""Convert an official, FCMAE, timm, HF or mmpretrain ConvNeXt V2 checkpoint to mmconvnextv2.

The output is an mmengine checkpoint for an mmpretrain ImageClassifier with an mmconvnextv2
ConvNeXtV2 backbone (``backbone.*``) and ConvNeXtV2ClsHead (``head.fc.*``, if the source has a
classifier). Source keys that map to nothing are listed, never dropped silently.

Example:
    python tools/model_converters/convnextv2_to_mm.py convnextv2_atto_1k_224_ema.pt \\
        checkpoints/convnextv2-atto_in1k.pth --arch atto
"""
import argparse
import sys
from collections.abc import Sequence

from mmconvnextv2.converters import FORMATS, ConversionResult, convert_checkpoint


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='source checkpoint (.pth, .pt, .bin or .safetensors)')
    parser.add_argument('dst', help='output checkpoint, written atomically')
    parser.add_argument('--format', default='auto', choices=('auto',) + FORMATS,
                        help='source layout (default: detect it from the key names)')
    parser.add_argument('--arch', help='refuse the conversion unless the checkpoint fits this '
                        'mmconvnextv2 arch (atto ... huge)')
    return parser.parse_args(argv)


def report(result: ConversionResult, dst: str) -> list[str]:
    """The lines printed after a conversion."""
    arch = result.arch or 'custom'
    lines = [f'format:    {result.format}',
             f'arch:      {arch} (depths {result.depths}, channels {result.channels})',
             f'converted: {len(result.state_dict)} keys -> {dst}']
    if result.dropped:
        lines.append(f'dropped FCMAE decoder keys: {len(result.dropped)}')
        lines += [f'  {key}' for key in result.dropped]
    lines.append(f'unmatched keys, not converted: {len(result.unmatched)}')
    lines += [f'  {key}' for key in result.unmatched]
    lines += [f'note: {note}' for note in result.notes]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = convert_checkpoint(args.src, args.dst, args.format, args.arch)
    except (ValueError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print('\n'.join(report(result, args.dst)))
    return 0


if __name__ == '__main__':
    sys.exit(main())

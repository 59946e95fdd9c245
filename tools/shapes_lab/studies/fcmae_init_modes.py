"""Scale of a fresh FCMAE under each ``init_mode``: encoder output std and first loss.

Builds the FCMAE of a pre-training config twice, with ``init_mode='default'`` (std 0.02) and
``'official'`` (the official models/fcmae.py re-initialisation), from the same seed, and reports
for one batch of standard-normal images (what normalised pixels look like, roughly): the standard
deviation of the encoder's last stage output (unmasked) and the loss of one masked forward pass.
docs/recipes.md quotes its output.

Example::

    python tools/shapes_lab/studies/fcmae_init_modes.py \\
        configs/fcmae/fcmae_convnextv2-base_32xb128-800e_in1k.py --batch-size 2
"""
import argparse

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample

from mmconvnextv2.models.selfsup.fcmae_init import INIT_MODES
from mmconvnextv2.registry import MODELS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='an FCMAE pre-training config')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


@torch.no_grad()
def measure(cfg: Config, init_mode: str, images: torch.Tensor, seed: int) -> dict[str, float]:
    """Encoder output std and masked loss of a fresh model in ``init_mode``."""
    torch.manual_seed(seed)
    model = MODELS.build(dict(cfg.model, init_mode=init_mode)).eval()
    model.init_weights()
    encoded = model.extract_feat(images)[-1]
    torch.manual_seed(seed)  # the same masks for every mode
    samples = [DataSample() for _ in range(len(images))]
    loss = model.loss(images, samples)['loss']
    return dict(encoder_std=encoded.std().item(), loss=loss.item())


def main() -> None:
    args = parse_args()
    # mmengine logs every initialised parameter at INFO level.
    MMLogger.get_instance('fcmae_init_modes', log_level='WARNING')
    cfg = Config.fromfile(args.config)
    images = torch.randn(args.batch_size, 3, args.img_size, args.img_size,
                         generator=torch.Generator().manual_seed(args.seed))
    print(f'{cfg.model.backbone.arch}, {args.batch_size} images of N(0, 1) at {args.img_size}px, '
          f'seed {args.seed}')
    print('| init_mode | encoder output std | first loss |\n|---|---|---|')
    for mode in INIT_MODES:
        result = measure(cfg, mode, images, args.seed)
        print(f'| {mode} | {result["encoder_std"]:.3g} | {result["loss"]:.3g} |')


if __name__ == '__main__':
    main()

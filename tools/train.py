"""Train a model from an mmpretrain, mmdet or mmseg config that uses mmconvnextv2 modules.

Examples:
    python tools/train.py configs/convnextv2/convnextv2-atto_shapes.py
    python tools/train.py CONFIG --resume            # resume from the latest checkpoint
    python tools/train.py CONFIG --amp --cfg-options train_dataloader.batch_size=64
    # 8 GPUs with 4 accumulated iterations per step: the official single-machine fine-tuning
    tools/dist_train.sh CONFIG 8 --amp --cfg-options optim_wrapper.accumulative_counts=4
    # bf16 with mmdet detectors on the CPU: mmcv's NMS and RoIAlign have no bf16 kernels, so
    # autocast named submodules only (see mmconvnextv2.AutocastOptimWrapper)
    python tools/train.py MASK_RCNN_CONFIG --amp --cfg-options \\
        optim_wrapper.autocast_modules="[backbone,neck]"
"""
import argparse
import os

from mmengine.config import DictAction

from mmconvnextv2.utils import build_runner, count_accumulation_in_lr_scaling, load_config, use_amp


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from this checkpoint, or without a value from the latest '
                             'checkpoint in the work directory')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision: float16 with dynamic loss scaling on '
                             'CUDA (the official fine-tuning commands\' --use_amp), bfloat16 '
                             'autocast otherwise (see --amp-dtype)')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'],
                        help='precision of --amp (default: float16 on CUDA, else bfloat16)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the effective batch (processes x batch x '
                             'optim_wrapper.accumulative_counts) / auto_scale_lr.base_batch_size; '
                             'our classification and FCMAE configs always do')
    parser.add_argument('--no-validate', action='store_true', help='skip validation while training')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_cfg.max_epochs=5')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.work_dir, args.cfg_options)
    cfg.launcher = args.launcher
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.amp:
        use_amp(cfg, args.amp_dtype)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=...)` '
                             'in the config.')
        cfg.auto_scale_lr.enable = True
    count_accumulation_in_lr_scaling(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    build_runner(cfg).train()


if __name__ == '__main__':
    main()

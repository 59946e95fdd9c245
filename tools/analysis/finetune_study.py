"""Label efficiency of FCMAE pre-training, ConvNeXt V2-Atto on the bundled shapes.

Fine-tunes from scratch, from the FCMAE V2 encoder and from the V1-style FCMAE encoder (both
pre-trained on the unlabelled pool; the zoo's by default) on the first N labelled scenes, for each
N and seed, the same number of steps, with the plain recipe (arms ``*_plain``: the one in which
scratch learns in that many steps) and the encoders also with the plain recipe at the lower lr
that suits a pre-trained start (arms ``fcmae_*_lr3e-4``); probes each frozen encoder (and a random
one) linearly. Run only when asked for: the paper's fine-tuning recipe (arms ``scratch``,
``fcmae_v2``, ``fcmae_v1``; it keeps a random network at chance for this many steps), scratch at
lr 3e-4 (``scratch_lr3e-4``: near chance at 1500 scenes) and the GRN x LayerScale ablation
(arms ``fcmae_grn_ls_lr3e-4``, ``fcmae_bare_lr3e-4``: encoders with both, and with neither), with
its encoders passed (they are not in the zoo). Writes ``results.md`` (mean ± sample std over the
seeds) and ``top1_vs_labels.png`` to the work directory. Finished runs are kept: run it again to
continue, or run it in several processes on disjoint ``--arms`` (each process one thread), then
once with ``--report`` to collect.

Examples::

    python tools/analysis/finetune_study.py                        # the study
    python tools/analysis/finetune_study.py --arms scratch_plain   # one arm, e.g. per process
    python tools/analysis/finetune_study.py --report               # table and plot only
    python tools/analysis/finetune_study.py --arms fcmae_grn_ls_lr3e-4 \\
        --fcmae-grn-ls work_dirs/fcmae_convnextv2-atto-grn-layerscale_shapes/epoch_8.pth
    python tools/analysis/finetune_study.py --sizes 12 --seeds 0 --iters 3 --num-val 12 \\
        --work-dir /tmp/study                                      # a seconds-long check
"""
import argparse
import os.path as osp
import sys

# shapes_lab is in tools/, the folder above this script's; it is not installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmconvnextv2.utils import atomic_write_text  # noqa: E402
from shapes_lab.study import (ARMS, ENCODERS, StudyRun, check_encoder_blocks, collect,  # noqa: E402
                              plot, probe_runs, run_study, table)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZOO_ENCODERS = {'fcmae_v2': 'zoo/fcmae_convnextv2-atto_shapes_encoder.pth',
                'fcmae_v1': 'zoo/fcmae_convnextv2-atto-v1style_shapes_encoder.pth'}
# The GRN x LayerScale ablation's encoders are not in the zoo; these train them.
ABLATION_COMMANDS = {
    name: f'tools/train.py configs/fcmae/fcmae_convnextv2-atto-{config}_shapes.py'
    for name, config in (('fcmae_grn_ls', 'grn-layerscale'), ('fcmae_bare', 'bare'))}
# The default table: every start at a recipe in which it learns in the study's steps: scratch
# and the zoo's encoders with the plain recipe, the encoders also at the lower lr that suits them.
# Run only when asked for (docs/finetune_study_variants): the paper's fine-tuning recipe, which
# keeps a random network at chance that long, and scratch at lr 3e-4, near chance at 1500 scenes.
DEFAULT_ARMS = ['scratch_plain', 'fcmae_v2_plain', 'fcmae_v1_plain', 'fcmae_v2_lr3e-4',
                'fcmae_v1_lr3e-4']


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/finetune_study'))
    parser.add_argument('--sizes', type=int, nargs='+', default=[60, 300, 1500],
                        help='numbers of labelled training scenes')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--arms', nargs='+', choices=list(ARMS), default=DEFAULT_ARMS,
                        help=f'default: {" ".join(DEFAULT_ARMS)}')
    parser.add_argument('--iters', type=int, default=300,
                        help='fine-tuning steps of batch 32 at every label budget')
    parser.add_argument('--num-val', type=int, default=600, help='validation scenes')
    for name in ENCODERS:
        if name in ZOO_ENCODERS:
            parser.add_argument(f'--{name.replace("_", "-")}',
                                default=osp.join(REPO, ZOO_ENCODERS[name]),
                                help=f'the {name} encoder (default: the zoo\'s)')
        else:
            parser.add_argument(f'--{name.replace("_", "-")}',
                                help=f'the {name} encoder, for its arms (no zoo file: '
                                     f'{ABLATION_COMMANDS[name]})')
    runs = parser.add_mutually_exclusive_group()
    runs.add_argument('--no-probe', action='store_true', help='skip the linear probes')
    runs.add_argument('--probe-only', action='store_true', help='only the linear probes')
    parser.add_argument('--report', action='store_true',
                        help='only collect the finished runs into the table and plot')
    args = parser.parse_args()
    if min(args.sizes) < 1 or args.iters < 1 or args.num_val < 1:
        parser.error('--sizes, --iters and --num-val must be >= 1')
    for name in needed_encoders(args.arms):
        path = getattr(args, name)
        flag = '--' + name.replace('_', '-')
        if path is None:
            parser.error(f'the arms of {name} need its encoder: pass {flag} (trained by '
                         f'{ABLATION_COMMANDS[name]})')
        if not osp.isfile(path):
            parser.error(f'the {name} encoder {path} does not exist: pass {flag} (an FCMAE '
                         'run\'s checkpoint or tools/model_converters/fcmae_to_backbone.py output)')
        try:
            check_encoder_blocks(name, path)
        except ValueError as error:
            parser.error(str(error))
    return args


def needed_encoders(arms: list[str]) -> list[str]:
    """The pre-trained encoders that ``arms`` start from, in order."""
    return list(dict.fromkeys(ARMS[arm].encoder for arm in arms if ARMS[arm].encoder))


def planned_runs(args: argparse.Namespace) -> list[StudyRun]:
    """Fine-tunings of every arm, size and seed, smallest label budget first (where the claim is
    tested), then the probes (see :func:`probe_runs`)."""
    runs = [] if args.probe_only else [StudyRun(arm, n, seed) for n in sorted(args.sizes)
                                       for seed in args.seeds for arm in args.arms]
    if not args.no_probe:
        probed = needed_encoders(args.arms)
        if any(ARMS[arm].encoder is None for arm in args.arms):
            probed.append('random')
        runs += probe_runs(probed, args.sizes, args.seeds)
    return runs


def main() -> None:
    args = parse_args()
    if not args.report:
        encoders = {name: getattr(args, name) for name in needed_encoders(args.arms)}
        run_study(planned_runs(args), encoders, args.iters, args.work_dir, args.num_val)
    results = collect(args.work_dir)
    if not results:
        sys.exit(f'no finished run under {args.work_dir}')
    text = table(results)
    command = 'python tools/analysis/finetune_study.py ' + ' '.join(sys.argv[1:])
    report = (f'{text}\n\nValidation top-1 (%), mean ± sample std (number of seeds); chance '
              f'16.7 %. A pre-trained encoder\'s probe runs once: no seed changes it. Command: '
              f'`{command.strip()}`\n')
    print('\n' + report)
    atomic_write_text(osp.join(args.work_dir, 'results.md'), report)
    print(f'written: {osp.join(args.work_dir, "results.md")}, '
          f'{plot(results, osp.join(args.work_dir, "top1_vs_labels.png"))}')


if __name__ == '__main__':
    main()

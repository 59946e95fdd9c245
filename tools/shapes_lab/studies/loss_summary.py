"""The first logged training loss and the mean loss of each run's last epoch.

For every work directory, the newest run that logged training (its
``<timestamp>/vis_data/scalars.json``): the first logged value of ``--key`` and the mean of the
values logged in the last epoch, as docs/results.md and docs/analysis.md quote FCMAE runs.

Example::

    python tools/shapes_lab/studies/loss_summary.py work_dirs/fcmae_convnextv2-atto_shapes \\
        work_dirs/fcmae_convnextv2-atto-bare_shapes
"""
import argparse

from mmconvnextv2.analysis import epoch_mean_losses, find_training_log, read_loss_curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+', help="training runs' work directories")
    parser.add_argument('--key', default='loss', help='the logged scalar')
    args = parser.parse_args()
    print(f'| work dir | first logged {args.key} | last epoch | its mean {args.key} |')
    print('|---|---|---|---|')
    for work_dir in args.work_dirs:
        try:
            scalars = find_training_log(work_dir, args.key)
        except FileNotFoundError as error:
            raise SystemExit(str(error)) from None
        means = epoch_mean_losses(scalars, args.key)
        if not means:
            raise SystemExit(f'{scalars} logs {args.key!r} without epochs: not an epoch-based run.')
        last = max(means)
        first = read_loss_curve(scalars, args.key).losses[0]
        print(f'| {work_dir} | {first:.3f} | {last} | {means[last]:.3f} |')


if __name__ == '__main__':
    main()

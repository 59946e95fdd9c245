"""The main job on the bundled shapes with ConvNeXt V2-Atto on the CPU: short runs of every stage
beside the model zoo's fully trained checkpoints, in one table.

Stages (tools/shapes_lab/demo.py): a short FCMAE V2 pre-training; the classifier, Mask R-CNN and
UperNet fine-tuned from the zoo's FCMAE V2 encoder, each beside the same run from scratch; the
zoo's checkpoints tested on the same scenes; the feature cosine distance of the zoo's encoders.
They run side by side in ``--processes`` processes; then the loss curves and the table: task,
metric, demo value, chance, scratch at the same budget, zoo value. Each stage's console goes to
``<work-dir>/<stage>/console.log`` and its values to ``<work-dir>/<stage>/stage.json``; the
terminal gets a line when a stage starts and one when it ends. ``--preset quick`` (``--quick``)
runs every stage for a few iterations (the test does).

Examples:
    make demo                                   # .venv/bin/python tools/demo.py, ~7 min
    .venv/bin/python tools/demo.py --quick --work-dir /tmp/demo_quick
"""
import warnings

# Before the OpenMMLab imports: mmcv imports pkg_resources, which warns on every import.
warnings.filterwarnings('ignore', 'pkg_resources is deprecated', UserWarning)

import argparse  # noqa: E402
import os.path as osp  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from mmconvnextv2.analysis import find_loss_curve, plot_loss_curves  # noqa: E402
from mmconvnextv2.datasets import ensure_shapes_dataset  # noqa: E402
from shapes_lab.chance import background_only_miou  # noqa: E402
from shapes_lab.demo import DemoPaths, demo_stages, demo_table, format_table  # noqa: E402
from shapes_lab.sizes import PRESETS, add_preset_argument  # noqa: E402
from shapes_lab.stages import failures, log_line, run_stages  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs/demo'),
                        help='where logs, checkpoints, pictures and the table go')
    parser.add_argument('--data-dir', default=osp.join(REPO, 'data'),
                        help='where the detection and segmentation scenes are written (the '
                             'classification scenes are rendered on the fly)')
    parser.add_argument('--zoo-dir', default=osp.join(REPO, 'zoo'), help='the model zoo')
    parser.add_argument('--processes', type=int, default=2,
                        help='stages run side by side in this many processes, which share the '
                             "CPU's cores (1: one after the other, here)")
    add_preset_argument(parser, ('demo', 'quick'), alias='quick')
    args = parser.parse_args(argv)
    if args.processes < 1:
        parser.error('--processes must be at least 1')
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    start = time.time()
    sizes = PRESETS[args.preset]
    paths = DemoPaths(args.work_dir, args.zoo_dir, sizes.det_scenes.folder(args.data_dir),
                      sizes.seg_scenes.folder(args.data_dir))
    for key in ('fcmae_v2_encoder', 'fcmae_v1_encoder'):
        paths.encoder(key)  # fail now, not after the other stages
    stages = demo_stages(paths, sizes)
    log_line(start, f'ConvNeXt V2-Atto on the bundled shapes ({sizes.name}): {len(stages)} '
                    f'stages in {args.processes} process(es); their consoles go to '
                    f'{args.work_dir}/<stage>/console.log')
    # Mask R-CNN's and UperNet's scenes share a folder where they are the same.
    data = {paths.det_data: sizes.det_scenes, paths.seg_data: sizes.seg_scenes}
    for folder, scenes in data.items():
        ensure_shapes_dataset(folder, scenes.train, scenes.test, size=scenes.size, progress=False)
    log_line(start, f'data: scenes in {" and ".join(data)}')

    results = run_stages(stages, args.work_dir, args.processes, start)
    if failures(results):
        sys.exit(f'The demo failed in:\n{failures(results)}')
    values = {name: result.values for name, result in results.items()}
    curves = plot_loss_curves(
        {'FCMAE V2 pre-training': {'FCMAE V2': find_loss_curve(paths.stage('fcmae'))},
         **{title: {'from the FCMAE encoder': find_loss_curve(paths.stage(name)),
                    'from scratch': find_loss_curve(paths.stage(f'{name}_scratch'))}
            for name, title in (('classifier', 'classification'), ('mask_rcnn', 'Mask R-CNN'),
                                ('upernet', 'UperNet'))}},
        osp.join(args.work_dir, 'loss_curves.png'), title='Atto on the bundled shapes: demo runs')

    log_line(start, 'results')
    print(format_table(demo_table(values, background_only_miou(paths.seg_data)), values))
    pictures = [*values['fcmae']['pictures'], curves, values['mask_rcnn']['picture'],
                *values['zoo']['pictures'], values['cosine']['picture']]
    print('\npictures: ' + '\n          '.join(pictures) + f'\nlogs:     {args.work_dir}')


if __name__ == '__main__':
    main()

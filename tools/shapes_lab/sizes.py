"""How big the shapes tools run: one :class:`Sizes` per preset, chosen with ``--preset``.

``demo`` and ``quick`` serve ``tools/demo.py``, ``gpu`` and ``quick`` ``tools/gpu_check.py``,
``mixed-precision`` and ``smoke`` ``tools/analysis/mixed_precision_check.py``. A preset leaves
None what its tools do not run. Importing it imports no torch: ``tools/gpu_check.py --device cpu``
hides the GPUs before torch starts.
"""
import argparse
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskSize:
    """How much one training stage trains and tests (None: the config's).

    Attributes:
        epochs: Training epochs; the config's schedule is stretched to them.
        iters: Training iterations instead: UperNet's own schedule, or for the epoch-based
            configs a warm-up and then their full lr
            (:func:`~shapes_lab.configs.iteration_schedule`).
        batch: Training batch.
        train_scenes: FCMAE's pool scenes, the classifier's labelled scenes (Mask R-CNN and
            UperNet train on :attr:`Sizes.det_scenes` and :attr:`Sizes.seg_scenes`).
        test_scenes: The classifier's test scenes; FCMAE's held-out scenes of its loss (None:
            no held-out loss).
        img_size: Side of the training images (FCMAE, classifier, Mask R-CNN).
        options: Config overrides, e.g. the lr.
    """
    epochs: int | None = None
    iters: int | None = None
    batch: int | None = None
    train_scenes: int | None = None
    test_scenes: int | None = None
    img_size: int | None = None
    options: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.epochs is not None and self.iters is not None:
            raise ValueError(f'A task trains by epochs or by iterations, got epochs={self.epochs} '
                             f'and iters={self.iters}.')


@dataclass(frozen=True)
class SceneSet:
    """Generated shapes scenes (:func:`~mmconvnextv2.datasets.ensure_shapes_dataset`).

    Attributes:
        train: Training scenes.
        test: Test (validation) scenes.
        size: Their side in pixels; 320 for COCO's small, medium and large objects.
    """
    train: int
    test: int
    size: int

    def folder(self, root: str) -> str:
        """Their folder under ``root``, named after them: presets do not overwrite each other."""
        return osp.join(root, f'shapes_{self.size}px_{self.train}+{self.test}')


@dataclass(frozen=True)
class BenchSize:
    """The GPU check's stages on single models (backbone, sparse encoder, FCMAE step).

    Attributes:
        arch: The ConvNeXt V2 size (timm has it).
        batch_size: Images per step.
        img_size: Their side (a multiple of 32).
        repeats: Timed steps per measurement, after ``warmup`` untimed ones.
        warmup: Untimed steps.
        compile_backend: ``torch.compile`` backend of the backbone stage.
    """
    arch: str
    batch_size: int
    img_size: int
    repeats: int
    warmup: int
    compile_backend: str


@dataclass(frozen=True)
class Sizes:
    """How big every stage of a preset runs; None where the preset's tools run no such stage.

    Attributes:
        name: The preset's name.
        fcmae: FCMAE pre-training.
        classifier: The classifier's fine-tuning.
        mask_rcnn: Mask R-CNN.
        upernet: UperNet.
        det_scenes: Mask R-CNN's scenes.
        seg_scenes: UperNet's scenes.
        bench: The GPU check's single-model stages.
        drawn_scenes: Scenes in the demo's pictures of reconstructions and detections.
        analysis_images: Validation scenes of the demo's cosine-distance analysis.
        workers: Data loading processes of the runners (0: in the main process).
    """
    name: str
    fcmae: TaskSize | None = None
    classifier: TaskSize | None = None
    mask_rcnn: TaskSize | None = None
    upernet: TaskSize | None = None
    det_scenes: SceneSet | None = None
    seg_scenes: SceneSet | None = None
    bench: BenchSize | None = None
    drawn_scenes: int = 0
    analysis_images: int = 0
    workers: int = 0

    def need(self, part: str) -> object:
        """The sizes of ``part`` (an attribute name).

        Raises:
            ValueError: If this preset leaves it None.
        """
        value = getattr(self, part)
        if value is None:
            raise ValueError(f'The {self.name!r} preset has no {part} sizes; choose a preset of '
                             'this tool (--preset).')
        return value


# The demo: a few hundred iterations each, with the scratch runs of every downstream stage; about
# 7 minutes on 2 cores (docs/results.md).
DEMO = Sizes(
    'demo',
    fcmae=TaskSize(epochs=3, train_scenes=1920, batch=32, test_scenes=32),  # 180 iterations
    # 290 iterations of 32 over 300 labelled scenes (the study's middle budget), test on the
    # config's 600 scenes. From scratch the loss stays near ln 6 for 100-200 steps: 192
    # iterations left it near chance. At 300 scenes every seed of the study learns from scratch
    # and has the encoder ahead; at 1500, scratch's seeds spread too widely for one seed
    # (docs/history.md#the-classifiers-budget).
    classifier=TaskSize(epochs=29, train_scenes=300),
    # 120 iterations of 4 at 5x the config's lr (its warm-up of 100 iterations shortened to 10):
    # the heads start from random weights. On the demo's scenes this got box AP 13.0, where 40
    # iterations of 8 at the same lr got 3.8, in about 30 % more time.
    mask_rcnn=TaskSize(epochs=3, batch=4,
                       options={'param_scheduler.0.end': 10, 'optim_wrapper.optimizer.lr': 1e-3}),
    upernet=TaskSize(iters=160),
    det_scenes=SceneSet(160, 50, 320), seg_scenes=SceneSet(320, 100, 224),
    drawn_scenes=4, analysis_images=120)
# Every stage at toy sizes, seconds each: the demo's and the GPU check's tests. 64-px scenes;
# twelve classification test scenes (two per class).
QUICK = Sizes(
    'quick',
    fcmae=TaskSize(epochs=2, train_scenes=4, batch=2, test_scenes=2),
    classifier=TaskSize(epochs=3, train_scenes=4, test_scenes=12, batch=2),
    mask_rcnn=TaskSize(epochs=1, batch=2, options={'param_scheduler.0.end': 1}),
    upernet=TaskSize(iters=2, batch=2),
    det_scenes=SceneSet(4, 2, 64), seg_scenes=SceneSet(4, 2, 64),
    # Inductor alone would compile for longer than the whole check: the 'eager' backend captures
    # the same graphs with dynamo (graph breaks and unsupported code show) and runs them without
    # generating code.
    bench=BenchSize(arch='atto', batch_size=2, img_size=64, repeats=2, warmup=1,
                    compile_backend='eager'),
    drawn_scenes=2, analysis_images=6)
# The GPU check on a GPU: minutes (docs/gpu.md).
GPU = Sizes(
    'gpu',
    classifier=TaskSize(iters=20, batch=32, img_size=224),
    mask_rcnn=TaskSize(epochs=1, batch=8),  # 20 iterations over the 160 scenes
    upernet=TaskSize(iters=20, batch=8),
    det_scenes=SceneSet(160, 16, 320), seg_scenes=SceneSet(160, 16, 320),
    bench=BenchSize(arch='atto', batch_size=32, img_size=224, repeats=10, warmup=3,
                    compile_backend='inductor'),
    workers=2)
# The mixed-precision check: about 17 minutes on 2 CPU cores without bf16 instructions
# (tools/analysis/mixed_precision_check.py).
MIXED_PRECISION = Sizes(
    'mixed-precision',
    fcmae=TaskSize(iters=300, batch=16), classifier=TaskSize(iters=300, batch=16),
    mask_rcnn=TaskSize(iters=60, batch=2),
    det_scenes=SceneSet(1200, 200, 320))  # as many as the bundled data set's defaults
# Its test: 3 steps of each on 64-px scenes.
SMOKE = Sizes(
    'smoke',
    fcmae=TaskSize(iters=3, batch=2, img_size=64),
    classifier=TaskSize(iters=3, batch=2, img_size=64),
    mask_rcnn=TaskSize(iters=3, batch=2, img_size=64),
    det_scenes=SceneSet(8, 2, 64))
PRESETS = {sizes.name: sizes for sizes in (DEMO, QUICK, GPU, MIXED_PRECISION, SMOKE)}


def add_preset_argument(parser: argparse.ArgumentParser, choices: Sequence[str],
                        alias: str) -> None:
    """``--preset`` (the first of ``choices`` by default) and ``--<alias>`` for the second."""
    parser.add_argument('--preset', choices=list(choices), default=choices[0],
                        help=f'sizes of the stages (default: {choices[0]}; shapes_lab/sizes.py)')
    parser.add_argument(f'--{alias}', dest='preset', action='store_const', const=choices[1],
                        help=f'--preset {choices[1]}')

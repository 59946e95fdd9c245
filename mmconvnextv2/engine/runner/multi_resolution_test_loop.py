"""Evaluate one checkpoint at several input resolutions in one ``tools/test.py`` run.

The test pipeline's resize and crop steps are replaced, per resolution, by the official ConvNeXt V2
evaluation transform: below 384 pixels, resize the short side to ``resolution / crop_ratio`` and
centre-crop (crop ratio 224/256 = 0.875); from 384 pixels on, warp the whole image to
``resolution x resolution`` without cropping. Metrics come back prefixed, e.g.
``'288px/accuracy/top1'``.
"""
import copy
from collections.abc import Sequence

from mmengine.evaluator import Evaluator
from mmengine.runner import TestLoop

from mmconvnextv2.registry import LOOPS

# Test-pipeline steps that set the image size; they are replaced per resolution.
GEOMETRIC_TRANSFORMS = ('Resize', 'ResizeEdge', 'CenterCrop', 'RandomResizedCrop')
# The official evaluation warps instead of cropping from this resolution on.
WARP_FROM = 384


def resolution_transforms(resolution: int, crop_ratio: float = 0.875) -> list[dict]:
    """The official evaluation resize (and crop) steps for one square input resolution."""
    if resolution >= WARP_FROM:
        return [dict(type='Resize', scale=(resolution, resolution), backend='pillow',
                     interpolation='bicubic')]
    return [dict(type='ResizeEdge', scale=int(resolution / crop_ratio), edge='short',
                 backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=resolution)]


def pipeline_at_resolution(pipeline: Sequence[dict], resolution: int,
                           crop_ratio: float = 0.875) -> list[dict]:
    """``pipeline`` with its resize and crop steps replaced by :func:`resolution_transforms`.

    Raises:
        ValueError: If the pipeline has no resize or crop step to replace.
    """
    kinds = [step['type'].split('.')[-1] if isinstance(step['type'], str)
             else step['type'].__name__ for step in pipeline]
    positions = [i for i, kind in enumerate(kinds) if kind in GEOMETRIC_TRANSFORMS]
    if not positions:
        raise ValueError(f'The test pipeline {kinds} has none of {GEOMETRIC_TRANSFORMS} to '
                         'replace; MultiResolutionTestLoop rewrites the resize and crop steps.')
    kept = [copy.deepcopy(step) for i, step in enumerate(pipeline) if i not in positions]
    first = positions[0]
    return kept[:first] + resolution_transforms(resolution, crop_ratio) + kept[first:]


@LOOPS.register_module()
class MultiResolutionTestLoop(TestLoop):
    """Runs the test set once per resolution and reports the metrics of each.

    Use it as ``test_cfg = dict(type='mmconvnextv2.MultiResolutionTestLoop',
    resolutions=[224, 288, 384])``. Hooks see one test epoch per resolution, so EMA weights are
    swapped in for each and every result is logged.

    Args:
        runner: The runner.
        dataloader: The test dataloader config; its ``dataset.pipeline`` is rewritten per
            resolution.
        evaluator: The evaluator (or its config), shared by all resolutions.
        resolutions: Square input sizes to evaluate at, in order.
        crop_ratio: Crop fraction below 384 pixels (the official 224/256).
        fp16: Run the model under autocast.
    """

    def __init__(self, runner, dataloader: dict, evaluator: Evaluator | dict | list,
                 resolutions: Sequence[int], crop_ratio: float = 0.875,
                 fp16: bool = False) -> None:
        if not isinstance(dataloader, dict) or 'pipeline' not in dataloader.get('dataset', {}):
            raise TypeError('MultiResolutionTestLoop needs the test_dataloader as a config whose '
                            'dataset has a pipeline, to rebuild it at each resolution.')
        if not resolutions or any(int(r) != r or r <= 0 for r in resolutions):
            raise ValueError(f'resolutions must be positive integers, got {resolutions!r}')
        if not 0 < crop_ratio <= 1:
            raise ValueError(f'crop_ratio must be in (0, 1], got {crop_ratio}')
        self.resolutions = [int(r) for r in resolutions]
        self.dataloader_cfgs = []
        for resolution in self.resolutions:
            cfg = copy.deepcopy(dataloader)
            cfg['dataset']['pipeline'] = pipeline_at_resolution(
                dataloader['dataset']['pipeline'], resolution, crop_ratio)
            self.dataloader_cfgs.append(cfg)
        super().__init__(runner, self.dataloader_cfgs[0], evaluator, fp16)

    def run(self) -> dict[str, float]:
        """Tests at every resolution; returns all metrics, prefixed ``'<resolution>px/'``."""
        self.runner.call_hook('before_test')
        metrics: dict[str, float] = {}
        for index, resolution in enumerate(self.resolutions):
            if index > 0:
                self.dataloader = self.runner.build_dataloader(self.dataloader_cfgs[index],
                                                               seed=self.runner.seed)
            self.runner.call_hook('before_test_epoch')
            self.runner.model.eval()
            for idx, data_batch in enumerate(self.dataloader):
                self.run_iter(idx, data_batch)
            scores = self.evaluator.evaluate(len(self.dataloader.dataset))
            scores = {f'{resolution}px/{name}': value for name, value in scores.items()}
            self.runner.call_hook('after_test_epoch', metrics=scores)
            metrics.update(scores)
        self.runner.call_hook('after_test')
        return metrics

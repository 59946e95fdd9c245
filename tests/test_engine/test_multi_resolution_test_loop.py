"""The per-resolution test pipelines follow the official evaluation transform."""
import pytest
from mmengine.registry import LOOPS

from mmconvnextv2.engine import MultiResolutionTestLoop
from mmconvnextv2.engine.runner import pipeline_at_resolution

LOAD, PACK = dict(type='LoadImageFromFile'), dict(type='PackInputs')
PIPELINE_224 = [LOAD, dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
                           interpolation='bicubic'),
                dict(type='CenterCrop', crop_size=224), PACK]


@pytest.mark.parametrize('resolution, short_side', [(224, 256), (288, 329), (160, 182)])
def test_below_384_resize_short_side_then_centre_crop(resolution, short_side):
    # The official crop_pct 224/256: short side int(resolution / 0.875).
    pipeline = pipeline_at_resolution(PIPELINE_224, resolution)
    assert pipeline == [LOAD, dict(type='ResizeEdge', scale=short_side, edge='short',
                                   backend='pillow', interpolation='bicubic'),
                        dict(type='CenterCrop', crop_size=resolution), PACK]


@pytest.mark.parametrize('resolution', [384, 512])
def test_from_384_warp_without_crop(resolution):
    warp = [LOAD, dict(type='Resize', scale=(resolution, resolution), backend='pillow',
                       interpolation='bicubic'), PACK]
    assert pipeline_at_resolution(PIPELINE_224, resolution) == warp
    # A 384 pipeline (a Resize step) goes back to the crop below 384.
    assert pipeline_at_resolution(warp, 224) == PIPELINE_224


def test_scoped_steps_are_replaced_and_the_input_is_left_alone():
    pipeline = [LOAD, dict(type='mmpretrain.Resize', scale=64), PACK]
    assert pipeline_at_resolution(pipeline, 96)[1]['type'] == 'ResizeEdge'
    assert pipeline[1] == dict(type='mmpretrain.Resize', scale=64)


def test_pipeline_without_resize_is_refused():
    with pytest.raises(ValueError, match='has none of'):
        pipeline_at_resolution([LOAD, PACK], 224)


def test_loop_resolves_by_its_scoped_name():
    assert LOOPS.get('mmconvnextv2.MultiResolutionTestLoop') is MultiResolutionTestLoop


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(dataloader=object()), TypeError, 'needs the test_dataloader as a config'),
    (dict(resolutions=[]), ValueError, 'resolutions must be positive integers'),
    (dict(resolutions=[224, 0]), ValueError, 'resolutions must be positive integers'),
    (dict(crop_ratio=1.5), ValueError, r'crop_ratio must be in \(0, 1\]'),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    arguments = dict(runner=None, dataloader=dict(dataset=dict(pipeline=PIPELINE_224)),
                     evaluator=None, resolutions=[224])
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        MultiResolutionTestLoop(**arguments)

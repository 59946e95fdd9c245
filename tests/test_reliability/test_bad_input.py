"""Bad input stops with an error that names the problem, or is skipped with a warning if asked.

Unreadable images, broken COCO annotation files, image sizes FCMAE cannot mask, checkpoints that
are not ConvNeXt V2 state dicts (or would run code when unpickled) and unknown arch names.
"""
import ast
import copy
import glob
import importlib
import json
import os
import os.path as osp
import pickle
from collections.abc import Callable

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample

from mmconvnextv2.analysis.features import load_backbone_weights
from mmconvnextv2.converters import load_source
from mmconvnextv2.datasets import LoadImageFromFileChecked, UnreadableImageError
from mmconvnextv2.models import ConvNeXtV2, SparseConvNeXtV2
from mmconvnextv2.utils.torch_compat import LOADS_WEIGHTS_ONLY_BY_DEFAULT

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FCMAE_SHAPES = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_shapes.py')
CLASSIFIER_SHAPES = osp.join(REPO, 'configs/convnextv2/convnextv2-atto_shapes.py')
FCMAE_IN1K = osp.join(REPO, 'configs/fcmae/fcmae_convnextv2-atto_32xb128-800e_in1k.py')
MASK_RCNN_SHAPES = osp.join(REPO, 'configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py')
CHECKED_LOADER = 'mmconvnextv2.LoadImageFromFileChecked'
ARCH_NAMES = sorted(ConvNeXtV2.arch_settings)


# --- Unreadable images ----------------------------------------------------------------------

def encoded(suffix: str) -> bytes:
    """A 64x64 image with smooth gradients, encoded as ``suffix`` ('.jpg', '.png')."""
    y, x = np.mgrid[0:64, 0:64]
    image = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


# File name -> (content, what the error must say about it). None: the file is deleted after the
# data set has listed it.
BAD_IMAGES = {
    'truncated.jpg': (encoded('.jpg')[:-200], 'truncated or not an image'),
    'truncated.png': (encoded('.png')[:-200], 'truncated or not an image'),
    'empty.jpg': (b'', 'the file is empty'),
    'notes.png': (b'not an image\n', 'truncated or not an image'),
    'deleted.jpg': (None, 'the file does not exist'),
}


def image_folder(root: str, bad_name: str) -> str:
    """``root/train`` with one good image and the bad one, as FCMAE's CustomDataset reads them."""
    folder = osp.join(root, 'train')
    os.makedirs(folder)
    with open(osp.join(folder, 'good.png'), 'wb') as file:
        file.write(encoded('.png'))
    content = BAD_IMAGES[bad_name][0]
    with open(osp.join(folder, bad_name), 'wb') as file:
        file.write(b'placeholder' if content is None else content)
    return folder


def fcmae_image_dataset(root: str, bad_name: str, **loader_args):
    """The FCMAE ImageNet config's training pipeline on the image folder ``root/train``."""
    folder = image_folder(root, bad_name)
    pipeline = Config.fromfile(FCMAE_IN1K).train_dataloader.dataset.pipeline
    assert pipeline[0].type == CHECKED_LOADER
    pipeline[0].update(loader_args)
    dataset = MMPRETRAIN_DATASETS.build(dict(type='CustomDataset', data_root=root,
                                             data_prefix='train', with_label=False,
                                             pipeline=pipeline))
    if BAD_IMAGES[bad_name][0] is None:
        os.remove(osp.join(folder, bad_name))
    return dataset


def index_of(dataset, name: str) -> int:
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    return next(i for i, path in enumerate(paths) if osp.basename(path) == name)


@pytest.mark.parametrize('bad_name', sorted(BAD_IMAGES))
def test_unreadable_image_stops_with_its_path_and_the_reason(tmp_path, bad_name):
    dataset = fcmae_image_dataset(str(tmp_path), bad_name)
    with pytest.raises(UnreadableImageError) as error:
        dataset[index_of(dataset, bad_name)]
    message = str(error.value)
    assert osp.join(str(tmp_path), 'train', bad_name) in message
    assert BAD_IMAGES[bad_name][1] in message
    assert "on_error='skip'" in message  # and the way to go on regardless


def test_skip_mode_warns_with_the_path_and_returns_another_sample(tmp_path, mmengine_warnings):
    dataset = fcmae_image_dataset(str(tmp_path), 'truncated.jpg', on_error='skip')
    sample = dataset[index_of(dataset, 'truncated.jpg')]
    assert osp.basename(sample['data_samples'].img_path) == 'good.png'
    assert tuple(sample['inputs'].shape) == (3, 224, 224)  # the FCMAE ImageNet crop
    bad_path = osp.join(str(tmp_path), 'train', 'truncated.jpg')
    warnings = mmengine_warnings
    assert warnings and all(bad_path in w and 'truncated' in w for w in warnings)


def test_unknown_on_error_mode_lists_the_valid_ones():
    with pytest.raises(ValueError,
                       match=r"on_error must be one of \('raise', 'skip'\), got 'ignore'"):
        LoadImageFromFileChecked(on_error='ignore')


@pytest.mark.parametrize('package', ['mmpretrain', 'mmdet', 'mmseg'])
def test_checked_loader_builds_in_every_downstream_scope(package):
    registry = importlib.import_module(f'{package}.registry').TRANSFORMS
    with DefaultScope.overwrite_default_scope(package):
        loader = registry.build(dict(type=CHECKED_LOADER, on_error='skip'))
    assert type(loader) is LoadImageFromFileChecked and loader.on_error == 'skip'


# --- COCO annotation files ------------------------------------------------------------------

def coco(**changes) -> dict:
    """A valid one-image COCO instances file, with ``changes`` applied."""
    content = dict(
        images=[dict(id=1, file_name='a.png', width=64, height=64)],
        annotations=[dict(id=5, image_id=1, category_id=1, bbox=[0, 0, 10, 10], area=100,
                          iscrowd=0, segmentation=[[0, 0, 10, 0, 10, 10]])],
        categories=[dict(id=1, name='square')])
    content.update(changes)
    return {key: value for key, value in content.items() if value is not None}


def build_coco(ann_file: str, test_mode: bool = False):
    from mmdet.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(type='mmconvnextv2.CocoDataset', ann_file=ann_file,
                                   metainfo=dict(classes=('square',)), data_prefix=dict(img=''),
                                   test_mode=test_mode, pipeline=[]))


DANGLING_ANNOTATION = dict(id=7, image_id=42, category_id=1, bbox=[0, 0, 1, 1], area=1,
                           iscrowd=0)
BAD_COCO = {
    'empty': ('', 'is empty'),
    'truncated': (json.dumps(coco())[:60], 'is not valid JSON'),
    'a list': ('[]', "holds a JSON list, not an object with the lists ['images', "),
    'no categories': (json.dumps(coco(categories=None)), "lacks ['categories']"),
    'images not a list': (json.dumps(coco(images={})), "'images' must be a list, got a dict"),
    'no images': (json.dumps(coco(images=[], annotations=[])), 'lists no images'),
    'dangling image_id': (
        json.dumps(coco(annotations=coco()['annotations'] + [DANGLING_ANNOTATION])),
        'annotations (ids 7) refer to the image_id 42, which images does not list'),
    'dangling category_id': (
        json.dumps(coco(annotations=[dict(DANGLING_ANNOTATION, image_id=1, category_id=3)])),
        'annotations (ids 7) refer to the category_id 3, which categories does not list'),
}


@pytest.mark.parametrize('case', sorted(BAD_COCO))
def test_broken_coco_file_is_named_with_its_problem(tmp_path, case):
    text, problem = BAD_COCO[case]
    ann_file = tmp_path / 'instances.json'
    ann_file.write_text(text)
    with pytest.raises(ValueError) as error:
        build_coco(str(ann_file))
    assert str(ann_file) in str(error.value) and problem in str(error.value)


def test_missing_coco_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.json does not exist; check ann_file'):
        build_coco(str(tmp_path / 'missing.json'))


def test_valid_coco_files_still_load(tmp_path):
    ann_file = tmp_path / 'instances.json'
    ann_file.write_text(json.dumps(coco()))
    assert len(build_coco(str(ann_file))) == 1
    # Image-info files for inference (COCO test-dev's) have no annotations.
    ann_file.write_text(json.dumps(coco(annotations=None)))
    assert len(build_coco(str(ann_file), test_mode=True)) == 1
    with pytest.raises(ValueError, match=r"lacks \['annotations'\].*test mode only"):
        build_coco(str(ann_file))


def test_mask_rcnn_shapes_config_uses_the_checked_coco_dataset():
    cfg = Config.fromfile(MASK_RCNN_SHAPES)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.type == 'mmconvnextv2.CocoDataset', loader


# --- Image sizes FCMAE cannot mask ----------------------------------------------------------

@pytest.fixture(scope='module')
def fcmae_atto():
    model = MMPRETRAIN_MODELS.build(Config.fromfile(FCMAE_SHAPES).model)
    model.init_weights()
    return model


def fcmae_loss(model, size: int) -> None:
    samples = [DataSample(metainfo=dict(sample_idx=i)) for i in range(2)]
    model(torch.zeros(2, 3, size, size), samples, mode='loss')


def test_fcmae_refuses_images_that_are_not_whole_patches(fcmae_atto):
    with pytest.raises(ValueError, match=r'divisible by the patch size 32, got 100x100; crop or '
                                         r'resize'):
        fcmae_loss(fcmae_atto, 100)


def test_fcmae_refuses_a_grid_that_keeps_no_patch(fcmae_atto):
    # One 32x32 patch with mask_ratio 0.6 keeps int(1 * 0.4) = 0 patches.
    assert fcmae_atto.mask_ratio == 0.6
    with pytest.raises(ValueError, match=r'1x1 patch grid with mask_ratio=0\.6 keeps no patch; '
                                         r'use larger images or a smaller mask_ratio'):
        fcmae_loss(fcmae_atto, 32)


# --- Checkpoints ----------------------------------------------------------------------------

class RunsShellOnLoad:
    """Unpickles as a call of ``os.system``: what a malicious checkpoint would hold."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def write_bad_checkpoint(path: str, kind: str) -> None:
    if kind == 'text':
        with open(path, 'w') as file:
            file.write('epoch: 3\nweights: see the other file\n')
    elif kind == 'plain pickle':
        with open(path, 'wb') as file:
            pickle.dump({'backbone.stem.weight': [0.0]}, file)
    elif kind == 'empty':
        open(path, 'wb').close()
    elif kind == 'list':
        torch.save([torch.zeros(2)], path)
    elif kind == 'truncated':
        torch.save({'backbone.norm.weight': torch.zeros(320)}, path)
        with open(path, 'rb') as file:
            data = file.read()
        with open(path, 'wb') as file:
            file.write(data[:len(data) // 2])


BAD_CHECKPOINTS = {
    'text': 'is not a checkpoint written by torch.save',
    'plain pickle': 'is not a checkpoint written by torch.save',
    'empty': 'is empty: expected a checkpoint written by torch.save',
    'list': "holds no state dict (got list): expected a dict of tensors",
    'truncated': 'is truncated or corrupt',
}


@pytest.mark.parametrize('kind', sorted(BAD_CHECKPOINTS))
def test_file_that_is_no_state_dict_is_named_with_what_was_expected(tmp_path, kind):
    path = str(tmp_path / 'checkpoint.pth')
    write_bad_checkpoint(path, kind)
    with pytest.raises(ValueError) as error:
        load_source(path)
    assert path in str(error.value) and BAD_CHECKPOINTS[kind] in str(error.value)


def pretrained_atto(checkpoint: str) -> ConvNeXtV2:
    return ConvNeXtV2(arch='atto', init_cfg=dict(type='mmconvnextv2.ConvNeXtV2Pretrained',
                                                 checkpoint=checkpoint))


@pytest.mark.parametrize('kind, problem', [
    ('unrelated keys', 'Cannot tell the checkpoint format from its 1 keys, e.g. conv1.weight'),
    ('text', 'is not a checkpoint written by torch.save'),
])
def test_pretrained_init_names_the_file_that_is_no_convnextv2_checkpoint(tmp_path, kind,
                                                                         problem):
    path = str(tmp_path / 'resnet.pth')
    if kind == 'unrelated keys':
        torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, path)
    else:
        write_bad_checkpoint(path, kind)
    model = pretrained_atto(path)
    with pytest.raises(ValueError) as error:
        model.init_weights()
    assert path in str(error.value) and problem in str(error.value)


def classifier_for_features(checkpoint: str) -> None:
    model = MMPRETRAIN_MODELS.build(Config.fromfile(CLASSIFIER_SHAPES).model)
    load_backbone_weights(model, checkpoint)


# Each way a user-given checkpoint is read: the converters and tools/model_converters, the
# ConvNeXtV2Pretrained init_cfg, mmengine's load_checkpoint (load_from, Pretrained init_cfg,
# tools/visualization/vis_fcmae.py) and the feature analysis tools.
LOADERS: dict[str, Callable[[str], object]] = {
    'load_source': load_source,
    'ConvNeXtV2Pretrained': lambda path: pretrained_atto(path).init_weights(),
    'mmengine load_checkpoint': lambda path: load_checkpoint(ConvNeXtV2(arch='atto'), path),
    'analysis load_backbone_weights': classifier_for_features,
}


def loader_cases() -> list:
    """The loaders; mmengine's own is weights-only only where torch's default is."""
    needs_torch_default = pytest.mark.skipif(
        not LOADS_WEIGHTS_ONLY_BY_DEFAULT,
        reason="needs torch >= 2.6: mmengine's load_checkpoint calls torch.load with torch's "
               'default, which unpickles everything before 2.6')
    return [pytest.param(name, marks=needs_torch_default) if name.startswith('mmengine') else name
            for name in sorted(LOADERS)]


@pytest.mark.parametrize('loader', loader_cases())
def test_checkpoint_that_would_run_code_is_refused_not_run(tmp_path, loader):
    marker = tmp_path / 'code_ran'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'backbone.norm.weight': torch.zeros(320),
                               'payload': RunsShellOnLoad(str(marker))}}, path)
    with pytest.raises((ValueError, pickle.UnpicklingError)) as error:
        LOADERS[loader](path)
    assert 'system' in str(error.value)  # names the global it refused
    assert not marker.exists()


def torch_load_calls(path: str) -> list[ast.Call]:
    with open(path) as file:
        tree = ast.parse(file.read(), filename=path)
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr == 'load'
            and isinstance(node.func.value, ast.Name) and node.func.value.id == 'torch']


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_torch_load_of_the_package_and_tools_is_weights_only():
    """Each ``torch.load`` passes ``weights_only=True`` or unpickles through the restricted
    unpickler (torch < 2.6 takes no allow-list): one of each, both in utils/checkpoint.py."""
    sources = [path for pattern in ('mmconvnextv2/**/*.py', 'tools/**/*.py')
               for path in glob.glob(osp.join(REPO, pattern), recursive=True)]
    calls = [(path, call) for path in sources for call in torch_load_calls(path)]
    kinds = []
    for path, call in calls:
        weights_only, pickle_module = keyword(call, 'weights_only'), keyword(call, 'pickle_module')
        if isinstance(pickle_module, ast.Name) and pickle_module.id == '_RestrictedPickle':
            kinds.append('restricted')
        else:
            assert isinstance(weights_only, ast.Constant) and weights_only.value is True, \
                f'{path}:{call.lineno}'
            kinds.append('weights_only')
        assert osp.relpath(path, REPO) == osp.join('mmconvnextv2', 'utils', 'checkpoint.py'), \
            f'{path}:{call.lineno}: load through mmconvnextv2.utils.load_weights_only'
    assert sorted(kinds) == ['restricted', 'weights_only']


# --- Unknown arch ---------------------------------------------------------------------------

def classifier_config_with_arch(arch: str) -> None:
    model = copy.deepcopy(Config.fromfile(CLASSIFIER_SHAPES).model)
    model.backbone.arch = arch
    MMPRETRAIN_MODELS.build(model)


ARCH_BUILDERS = {
    'ConvNeXtV2': lambda arch: ConvNeXtV2(arch=arch),
    'SparseConvNeXtV2': lambda arch: SparseConvNeXtV2(arch=arch),
    'MODELS.build': lambda arch: MMPRETRAIN_MODELS.build(
        dict(type='mmconvnextv2.SparseConvNeXtV2', arch=arch)),
    'classifier config': classifier_config_with_arch,
}


@pytest.mark.parametrize('builder', sorted(ARCH_BUILDERS))
def test_unknown_arch_is_named_with_the_valid_ones(builder):
    with pytest.raises(ValueError) as error:
        ARCH_BUILDERS[builder]('giant')
    message = str(error.value)
    assert "Unknown ConvNeXtV2 arch 'giant'" in message
    assert f'choose one of {ARCH_NAMES}' in message

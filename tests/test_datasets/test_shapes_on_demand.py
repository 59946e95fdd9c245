"""The shapes data sets that read from disk (ShapesSegDataset, CocoDataset) generate their scenes on
demand: byte for byte what ``write_shapes_dataset`` writes, once, refusing scenes of other
settings; processes that arrive at once serialise on the output folder's lock."""
import multiprocessing
import os
import os.path as osp

import pytest
from mmengine import DefaultScope
from mmengine.config import Config

from mmconvnextv2.datasets import (MANIFEST_NAME, SHAPE_CLASSES, CocoDataset, ShapesSegDataset,
                                   ShapesSettingsError, draw_dataset_scene, ensure_shapes_dataset,
                                   write_shapes_dataset)
from shapes_files import read_tree

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCENES = dict(num_train=3, num_val=2, size=64, seed=1)
VAL_ADE = dict(img_path='images/validation', seg_map_path='annotations/validation')
LOCK_NAME = '.shapes_lock'


def seg_dataset(data_root: str, scenes: dict | None = SCENES) -> ShapesSegDataset:
    return ShapesSegDataset(data_root=data_root, scenes=scenes, data_prefix=VAL_ADE,
                            pipeline=[])


def test_missing_scenes_are_written_once_as_the_writer_writes_them(tmp_path, capsys):
    out = str(tmp_path / 'shapes')
    dataset = seg_dataset(osp.join(out, 'ade'))
    printed = capsys.readouterr().out
    assert (f'shapes: writing 3 train + 2 val scenes of 64x64 px (seed 1) to {out}'
            in printed)
    assert len(dataset) == 2
    assert dataset[1]['img_path'] == osp.join(out, 'ade/images/validation/val_000001.jpg')

    reference = str(tmp_path / 'reference')
    write_shapes_dataset(reference, **SCENES, progress=False)
    assert read_tree(out) == {**read_tree(reference), LOCK_NAME: b''}

    # Complete: the next data set (of either kind) reads without writing or printing.
    manifest = osp.join(out, MANIFEST_NAME)
    stamp = os.stat(manifest).st_mtime_ns
    with DefaultScope.overwrite_default_scope('mmdet'):
        coco = CocoDataset(data_root=osp.join(out, 'coco/'), scenes=SCENES,
                           ann_file='annotations/instances_val.json',
                           data_prefix=dict(img='val/'),
                           metainfo=dict(classes=SHAPE_CLASSES), pipeline=[])
    assert 'shapes:' not in capsys.readouterr().out  # pycocotools prints its own lines
    assert os.stat(manifest).st_mtime_ns == stamp
    scene = draw_dataset_scene(1, 'val', 1, 64)
    assert len(coco) == 2
    assert len(coco.get_data_info(1)['instances']) == len(scene.instances)


def test_unfinished_output_is_regenerated(tmp_path, capsys):
    out = str(tmp_path / 'shapes')
    write_shapes_dataset(out, **SCENES, progress=False)
    os.remove(osp.join(out, MANIFEST_NAME))  # as a run killed before its last write leaves it
    os.remove(osp.join(out, 'ade/images/validation/val_000001.jpg'))
    assert len(seg_dataset(osp.join(out, 'ade'))) == 2
    assert 'shapes: writing' in capsys.readouterr().out
    assert osp.isfile(osp.join(out, 'ade/images/validation/val_000001.jpg'))


@pytest.mark.parametrize('other', [dict(num_val=3), dict(size=96), dict(seed=0)])
def test_scenes_of_other_settings_are_refused_with_the_command(tmp_path, other):
    out = str(tmp_path / 'shapes')
    write_shapes_dataset(out, **{**SCENES, **other}, progress=False)
    before = read_tree(out)
    with pytest.raises(ShapesSettingsError) as error:
        seg_dataset(osp.join(out, 'ade'))
    message = str(error.value)
    (key, value), = other.items()
    assert message.startswith(f'ShapesSegDataset: {out} holds shapes scenes of other settings: '
                              f'{key} {value} (wanted {SCENES[key]})')
    assert (f'python tools/generate_shapes.py --out {out} --num-train 3 --num-val 2 --size 64 '
            '--seed 1 --force') in message
    assert 'scenes=None' in message
    assert read_tree(out) == {**before, LOCK_NAME: b''}  # nothing replaced
    # scenes=None reads the folder as it is.
    num_val = {**SCENES, **other}['num_val']
    assert len(seg_dataset(osp.join(out, 'ade'), scenes=None)) == num_val


def test_generate_shapes_command_of_the_error_replaces_the_scenes(tmp_path):
    out = str(tmp_path / 'shapes')
    write_shapes_dataset(out, **{**SCENES, 'num_val': 1}, progress=False)
    ensure_shapes_dataset(out, **SCENES, progress=False, force=True)  # what --force runs
    assert len(seg_dataset(osp.join(out, 'ade'))) == 2


def test_bad_scenes_arguments_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"'ade' folder of a shapes output.*scenes=None"):
        seg_dataset(str(tmp_path / 'shapes' / 'images'))
    with pytest.raises(ValueError, match=r"'coco' folder of a shapes output"):
        CocoDataset(data_root=str(tmp_path / 'shapes' / 'ade'), scenes=SCENES,
                    ann_file='annotations/instances_val.json')
    with pytest.raises(ValueError, match=r"scenes takes the keys .*got \['num_scenes'\]"):
        seg_dataset(str(tmp_path / 'shapes' / 'ade'), scenes=dict(num_scenes=4))
    with pytest.raises(ValueError, match='size must be >= 64'):
        seg_dataset(str(tmp_path / 'shapes' / 'ade'), scenes={**SCENES, 'size': 32})
    assert not osp.exists(tmp_path / 'shapes' / MANIFEST_NAME)


def _ensure_in_a_process(out: str, barrier, lines) -> None:
    """Waits for the other process, then asks for the same scenes; keeps what it printed."""
    import contextlib
    import io
    printed = io.StringIO()
    barrier.wait()
    with contextlib.redirect_stdout(printed):
        ensure_shapes_dataset(out, num_train=40, num_val=8, size=64, seed=2)
    lines.extend(printed.getvalue().splitlines())


def test_processes_arriving_at_once_write_once(tmp_path):
    out = str(tmp_path / 'shapes')
    context = multiprocessing.get_context('fork')
    with context.Manager() as manager:
        barrier, lines = manager.Barrier(2), manager.list()
        workers = [context.Process(target=_ensure_in_a_process, args=(out, barrier, lines))
                   for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0, 0]
        lines = list(lines)
    # 48 scenes take long enough that, unserialised, both would find no manifest and write.
    assert sum(line.startswith('shapes: writing') for line in lines) == 1
    assert sum(line.endswith('is complete, not regenerated') for line in lines) == 1
    reference = str(tmp_path / 'reference')
    write_shapes_dataset(reference, num_train=40, num_val=8, size=64, seed=2, progress=False)
    assert read_tree(out) == {**read_tree(reference), LOCK_NAME: b''}


@pytest.mark.parametrize('config, layout, size', [
    ('configs/mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py', 'coco', 320),
    ('configs/upernet/convnextv2-atto_upernet_shapes.py', 'ade', 224),
    ('configs/upernet/convnextv2-atto_upernet_shapes_ms-flip.py', 'ade', 224),
])
def test_shapes_configs_name_the_zoo_scenes(config, layout, size):
    # The scenes the zoo's metrics were measured on (zoo/metafile.yml): 1200 training and 200
    # validation scenes, at 320 px for detection and 224 px for segmentation, seed 0.
    cfg = Config.fromfile(osp.join(REPO, config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.scenes == dict(num_train=1200, num_val=200, size=size, seed=0), loader
        assert osp.basename(osp.normpath(dataset.data_root)) == layout

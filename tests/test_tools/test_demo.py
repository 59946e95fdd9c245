"""``make demo``'s quick mode end to end (``tools/demo.py --quick``) in two processes, with a
stand-in zoo: random encoders and a random classifier. Every stage runs, the terminal gets one
line per stage start and end, and the table has every row, with the zoo's test where the zoo has
a checkpoint and "not in the zoo yet" where it has none."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.registry import MODELS, DefaultScope

from mmconvnextv2.apis import classifier_config
from mmconvnextv2.models import ConvNeXtV2

pytestmark = pytest.mark.slow  # starts real training runs

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAGES = ('classifier', 'classifier_scratch', 'mask_rcnn', 'mask_rcnn_scratch', 'fcmae', 'upernet',
          'upernet_scratch', 'zoo', 'cosine')
ROWS = [('FCMAE V2 pre-training', 'held-out loss'), ('classification', 'top-1 %'),
        ('Mask R-CNN', 'box AP %'), ('Mask R-CNN', 'mask AP %'), ('UperNet', 'mIoU %')]
NOT_IN_ZOO = 'not in the zoo yet'


def save_encoder(path: str, **arch) -> None:
    encoder = ConvNeXtV2(arch='atto', with_out_norms=False, **arch)
    torch.save({'state_dict': {f'backbone.{k}': v.half() for k, v in
                               encoder.state_dict().items()}}, path)


@pytest.fixture()
def zoo(tmp_path) -> str:
    """The zoo's two encoders and a classifier, random, in the zoo's file names and layout."""
    folder = tmp_path / 'zoo'
    folder.mkdir()
    save_encoder(str(folder / 'fcmae_convnextv2-atto_shapes_encoder.pth'))
    save_encoder(str(folder / 'fcmae_convnextv2-atto-v1style_shapes_encoder.pth'), use_grn=False,
                 layer_scale_init_value=1e-6)
    cfg = classifier_config(str(tmp_path / 'unused'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = MODELS.build(cfg.model)
    torch.save({'state_dict': classifier.state_dict()},
               str(folder / 'convnextv2-atto_fcmae-ft_shapes.pth'))
    return str(folder)


def table_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """The printed table's rows, keyed by (task, metric); cells are separated by 2+ spaces."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('task '))
    header = re.split(r'\s{2,}', lines[start].strip())
    assert header == ['task', 'metric', 'demo', 'chance', 'scratch', 'zoo']
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = re.split(r'\s{2,}', line.strip())
        assert len(cells) == len(header), line
        rows[tuple(cells[:2])] = cells[2:]
    return rows


def number(cell: str) -> float:
    return float(cell)  # raises for anything but a number


def test_quick_demo_runs_every_stage_and_prints_the_full_table(tmp_path, zoo):
    work = tmp_path / 'work'
    result = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/demo.py'), '--quick', '--processes', '2',
         '--work-dir', str(work), '--data-dir', str(tmp_path / 'data'), '--zoo-dir', zoo],
        capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout

    # The runs' own output went to their console logs; the terminal got a line per event.
    assert 'pkg_resources' not in out + result.stderr and 'mmengine - INFO' not in out
    for stage in STAGES:
        assert len(re.findall(rf'\] {stage}: started\n', out)) == 1, stage
        assert len(re.findall(rf'\] {stage}: (?!started).*\(\d+ s\)\n', out)) == 1, stage
        assert osp.getsize(work / stage / 'console.log') > 0 or stage == 'zoo'
    assert len(out.splitlines()) < 50

    rows = table_rows(out)
    assert list(rows) == ROWS
    for (task, metric), (demo, chance, scratch, zoo_value) in rows.items():
        number(demo)
        number(chance)
        if task == 'classification':
            assert chance == '16.7' and 0 <= number(scratch) <= 100
            assert 0 <= number(zoo_value) <= 100  # the stand-in classifier, tested
        elif task == 'FCMAE V2 pre-training':
            assert scratch == '-' and zoo_value == NOT_IN_ZOO
        else:  # the same short run from random weights; the stand-in zoo has no checkpoint
            assert 0 <= number(scratch) <= 100 and zoo_value == NOT_IN_ZOO
    # A constant prediction: no detections; predicting patch means scores about 1.
    assert rows[('Mask R-CNN', 'box AP %')][1] == '0.0'
    assert 0.5 < number(rows[('FCMAE V2 pre-training', 'held-out loss')][1]) <= 1.0

    for picture in ('fcmae_reconstructions.png', 'loss_curves.png', 'detections.png',
                    'cosine_distance.png'):
        assert osp.getsize(work / picture) > 0, picture
    assert not osp.exists(work / 'detections_zoo.png')  # the stand-in zoo has no detector

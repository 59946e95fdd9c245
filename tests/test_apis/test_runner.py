"""Runner construction (mmconvnextv2.apis.runner.build_runner)."""
import pytest

from mmconvnextv2.apis.runner import build_runner, load_config
from mmconvnextv2.apis.shapes_runs import MASK_RCNN_CONFIG, PLAIN_CLASSIFIER_CONFIG, UPERNET_CONFIG


@pytest.mark.parametrize('config', [UPERNET_CONFIG, MASK_RCNN_CONFIG, PLAIN_CLASSIFIER_CONFIG])
def test_runs_one_after_another_log_into_their_own_folders(tmp_path, config):
    # mmdet's and mmseg's configs name their visualizer 'visualizer', and mmengine hands a second
    # runner of a process the first one's instance, with the first run's folder.
    runners = [build_runner(load_config(config, str(tmp_path / name))) for name in ('a', 'b')]
    assert runners[0].visualizer is not runners[1].visualizer
    for runner in runners:
        save_dir = runner.visualizer._vis_backends['LocalVisBackend']._save_dir
        assert save_dir.startswith(runner.log_dir)

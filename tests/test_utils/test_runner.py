"""Runner construction and mixed precision (mmconvnextv2.utils.runner); use_amp's choice
of wrapper is tested with the wrapper (tests/test_engine/test_autocast_optim_wrapper.py)."""
import pytest

from mmconvnextv2.utils import build_runner, load_config, use_amp


@pytest.mark.parametrize('config', [
    'mmconvnextv2::upernet/convnextv2-atto_upernet_shapes.py',
    'mmconvnextv2::mask_rcnn/mask-rcnn_convnextv2-atto_fpn_shapes.py',
    'mmconvnextv2::convnextv2/convnextv2-atto_shapes.py'])
def test_runs_one_after_another_log_into_their_own_folders(tmp_path, config):
    # mmdet's and mmseg's configs name their visualizer 'visualizer', and mmengine hands a second
    # runner of a process the first one's instance, with the first run's folder.
    runners = [build_runner(load_config(config, str(tmp_path / name))) for name in ('a', 'b')]
    assert runners[0].visualizer is not runners[1].visualizer
    for runner in runners:
        save_dir = runner.visualizer._vis_backends['LocalVisBackend']._save_dir
        assert save_dir.startswith(runner.log_dir)


def test_use_amp_names_the_dtypes_it_takes():
    cfg = load_config('mmconvnextv2::convnextv2/convnextv2-atto_shapes.py')
    with pytest.raises(ValueError, match="'float16' or 'bfloat16', got 'fp16'"):
        use_amp(cfg, 'fp16')

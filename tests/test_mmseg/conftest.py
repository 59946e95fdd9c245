"""Shared set-up of the mmseg tests."""
import functools

import pytest
from mmengine.config import utils as config_utils


@pytest.fixture(scope='module', autouse=True)
def metafiles_read_once():
    """mmengine reads every metafile of mmseg (about 200 YAML files, over a second) for each
    ``mmseg::`` base of each config it parses; they do not change while the tests run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config_utils, 'load', functools.cache(config_utils.load))
        yield

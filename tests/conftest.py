"""Set-up shared by all tests."""
import pytest
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Every test starts in mmpretrain's scope, and scopes it or its runners set are dropped after.

    mmengine keeps the current scope in a process-wide instance table, so a runner built in one
    test (mmdet's, say) would otherwise decide how unscoped names resolve in the next.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield

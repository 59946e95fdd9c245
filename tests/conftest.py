"""Set-up shared by all tests."""
import logging

import pytest
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Every test starts in mmpretrain's scope, and scopes it or its runners set are dropped after.

    mmengine keeps the current scope in a process-wide instance table, so a runner built in one
    test (mmdet's, say) would otherwise decide how unscoped names resolve in the next.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


class _WarningRecorder(logging.Handler):
    """Keeps the messages of the warnings logged to it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            self.messages.append(record.getMessage())


@pytest.fixture
def mmengine_warnings():
    """The messages of the warnings mmengine's current logger gets during the test, as they come."""
    logger = MMLogger.get_current_instance()
    recorder = _WarningRecorder()
    logger.addHandler(recorder)
    try:
        yield recorder.messages
    finally:
        logger.removeHandler(recorder)

"""atomic_write: the destination is old or new and whole, never partial, and no temporary stays."""
import os

import pytest

from mmconvnextv2.utils import atomic_write, atomic_write_bytes, atomic_write_text


@pytest.mark.parametrize('durable', [True, False])
def test_writes_and_replaces_without_leftovers(tmp_path, durable):
    path = str(tmp_path / 'sub' / 'file.bin')
    atomic_write_bytes(path, b'first', durable)
    atomic_write_bytes(path, b'second', durable)
    with open(path, 'rb') as f:
        assert f.read() == b'second'
    assert os.listdir(tmp_path / 'sub') == ['file.bin']


def test_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = str(tmp_path / 'file.txt')
    atomic_write_text(path, 'old')

    def fail_halfway(f):
        f.write(b'partial')
        raise OSError('disk full')

    with pytest.raises(OSError, match='disk full'):
        atomic_write(path, fail_halfway)
    with open(path) as f:
        assert f.read() == 'old'
    assert os.listdir(tmp_path) == ['file.txt']

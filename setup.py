"""Installs mmconvnextv2; its configs travel inside the package as ``mmconvnextv2/.mim/configs``.

mmengine resolves ``_base_ = 'mmconvnextv2::path.py'`` to ``<package>/.mim/configs/path.py``. The
repository keeps that folder as a symbolic link to ``configs/`` so an editable install sees edits.
"""
from setuptools import setup

setup(package_data={'mmconvnextv2': ['.mim/configs/**/*.py', '.mim/configs/**/*.yml']})

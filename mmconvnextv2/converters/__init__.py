"""Checkpoint converters from other ConvNeXt V2 code bases into the mmconvnextv2 layout.

By job: :mod:`.formats` tells the source layouts apart, :mod:`.key_mapping` renames each one's
keys to ours, :mod:`.arch` finds and checks the size, :mod:`.conversion` converts state dicts and
files, :mod:`.fcmae_export` writes the encoder of an FCMAE run. Reading and writing checkpoint
files is :mod:`mmconvnextv2.utils.checkpoint`.
"""
from mmconvnextv2.utils.checkpoint import load_source, save_checkpoint

from .arch import check_against_arch, infer_arch
from .conversion import ConversionResult, convert_checkpoint, convert_state_dict
from .fcmae_export import export_fcmae_encoder
from .formats import FORMATS, detect_format

__all__ = ['FORMATS', 'ConversionResult', 'check_against_arch', 'convert_checkpoint',
           'convert_state_dict', 'detect_format', 'export_fcmae_encoder', 'infer_arch',
           'load_source', 'save_checkpoint']

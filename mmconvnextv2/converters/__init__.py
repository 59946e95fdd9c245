"""Checkpoint converters from other ConvNeXt V2 code bases into the mmconvnextv2 layout."""
from .convnextv2 import (FORMATS, ConversionResult, check_against_arch, convert_checkpoint,
                         convert_state_dict, detect_format, export_fcmae_encoder, infer_arch,
                         load_source, save_checkpoint)

__all__ = ['FORMATS', 'ConversionResult', 'check_against_arch', 'convert_checkpoint',
           'convert_state_dict', 'detect_format', 'export_fcmae_encoder', 'infer_arch',
           'load_source', 'save_checkpoint']

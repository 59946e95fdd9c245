from .fcmae import FCMAE

__all__ = ['FCMAE']

# ConvNeXt V2-Huge: FCMAE encoder fine-tuned on ImageNet-22K, 224x224 (intermediate stage).
_base_ = '../_base_/convnextv2_fcmae-ft_in22k.py'

model = dict(backbone=dict(arch='huge', drop_path_rate=0.3), head=dict(in_channels=2816))

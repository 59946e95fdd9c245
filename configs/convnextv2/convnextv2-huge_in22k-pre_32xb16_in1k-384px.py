# ConvNeXt V2-Huge: IN-22K fine-tuned model fine-tuned on ImageNet-1K, 384x384 (paper: 88.7 top-1).
_base_ = [
    '../_base_/convnextv2_in22k-ft_in1k.py',
    '../_base_/datasets/imagenet_bs32_convnextv2_384.py',
]

model = dict(backbone=dict(arch='huge', drop_path_rate=0.3), head=dict(in_channels=2816))
train_dataloader = dict(batch_size=16)

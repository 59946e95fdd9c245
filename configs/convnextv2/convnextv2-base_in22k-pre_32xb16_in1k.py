# ConvNeXt V2-Base: IN-22K fine-tuned model fine-tuned on ImageNet-1K, 224x224 (paper: 86.8 top-1).
_base_ = [
    '../_base_/convnextv2_in22k-ft_in1k.py',
    '../_base_/datasets/imagenet_bs32_convnextv2_224.py',
]

model = dict(backbone=dict(arch='base', drop_path_rate=0.1), head=dict(in_channels=1024))
train_dataloader = dict(batch_size=16)

# ConvNeXt V2-Large: IN-22K fine-tuned model fine-tuned on ImageNet-1K, 384x384 (paper: 88.2 top-1).
_base_ = [
    '../_base_/convnextv2_in22k-ft_in1k.py',
    '../_base_/datasets/imagenet_bs32_convnextv2_384.py',
]

model = dict(backbone=dict(arch='large', drop_path_rate=0.2), head=dict(in_channels=1536))
train_dataloader = dict(batch_size=16)

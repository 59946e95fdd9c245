# ConvNeXt V2-Tiny: IN-22K fine-tuned model fine-tuned on ImageNet-1K, 224x224 (paper: 83.9 top-1).
_base_ = [
    '../_base_/convnextv2_in22k-ft_in1k.py',
    '../_base_/datasets/imagenet_bs32_convnextv2_224.py',
]

model = dict(backbone=dict(arch='tiny', drop_path_rate=0.2), head=dict(in_channels=768))
train_dataloader = dict(batch_size=16)
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='single'))
train_cfg = dict(max_epochs=90)

# ConvNeXt V2-Large (FCMAE pre-trained, IN-1K fine-tuned) + UperNet on ADE20K 512x512, 160k
# iterations, batch 16 (8 GPUs x 2). Paper (multi-scale): 53.7 mIoU.
_base_ = './_base_/upernet_convnextv2_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.5,
        init_cfg=dict(checkpoint='checkpoints/convnextv2-large_in1k.pth')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768))
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(layer_decay_rate=0.9, layer_decay_mode='group'))

# Peer check of the bundled classification task: mmpretrain's ResNet-18 (GAP neck, linear head)
# with the data, recipe and schedule of convnextv2-atto_shapes.py. If it reaches >= 90 % top-1,
# the task is learnable, and a ConvNeXt V2 falling short is a problem of the model or recipe.
_base_ = '../convnextv2/convnextv2-atto_shapes.py'

model = dict(
    backbone=dict(_delete_=True, type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                  style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(_delete_=True, type='LinearClsHead', num_classes=6, in_channels=512,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1), topk=(1, )))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, norm_decay_mult=0.0, bias_decay_mult=0.0))

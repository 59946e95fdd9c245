# ImageNet-22K (21,841 classes, as the official models) at 224x224 with the fine-tuning
# augmentation of imagenet_bs32_convnextv2_224.py; 128 images per GPU: 32 GPUs make 4096.
# IN-22K has no standard validation split, so there is no validation.
_base_ = './imagenet_bs32_convnextv2_224.py'

data_preprocessor = dict(num_classes=21841)
train_dataloader = dict(
    batch_size=128,
    dataset=dict(type='ImageNet21k', data_root='data/imagenet21k', split='train'))
val_dataloader = None
val_evaluator = None
test_dataloader = None
test_evaluator = None

# ImageNet-1K at 224x224 with the official ConvNeXt V2 fine-tuning augmentation: bicubic
# RandomResizedCrop, flip, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25 (per-pixel noise);
# testing resizes the short side to 256 (bicubic) and crops the centre 224 (crop 0.875).
# 32 images per GPU: 32 GPUs make the recipes' total batch of 1024. Training drops the last
# incomplete batch of each epoch, as the official main_finetune.py (drop_last=True).
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py'

train_dataloader = dict(batch_size=32, drop_last=True)
val_dataloader = dict(batch_size=32)
test_dataloader = dict(batch_size=32)

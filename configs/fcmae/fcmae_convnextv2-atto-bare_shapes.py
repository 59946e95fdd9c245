# Ablation of the paper's V1-vs-V2 comparison on the bundled shapes: the FCMAE V2 network without
# GRN, and without V1's LayerScale (neither of the two), everything else as
# fcmae_convnextv2-atto_shapes.py. With fcmae_convnextv2-atto-grn-layerscale_shapes.py it separates
# what GRN and what LayerScale do to the encoder (docs/analysis.md).
_base_ = './fcmae_convnextv2-atto_shapes.py'

model = dict(backbone=dict(use_grn=False))

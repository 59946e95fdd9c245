# Ablation of the paper's V1-vs-V2 comparison on the bundled shapes: the FCMAE V2 network (GRN in
# every block) with V1's LayerScale added (initialised to 1e-6, not decayed), everything else as
# fcmae_convnextv2-atto-v1style_shapes.py. With fcmae_convnextv2-atto-bare_shapes.py it separates
# what GRN and what LayerScale do to the encoder (docs/analysis.md).
_base_ = './fcmae_convnextv2-atto-v1style_shapes.py'

model = dict(backbone=dict(use_grn=True))

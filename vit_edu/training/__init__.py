"""Training: the loop, the CNN baseline and the hybrid (a ViT on a CNN's feature map), the course's
recipes and committed models, and the experiments the lessons report (the two-head attention toy,
data efficiency, pre-training and transfer)."""

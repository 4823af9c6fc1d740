"""Training: the loop, the CNN baseline, the course's recipes and committed models, and the
experiments the lessons report (data efficiency, pre-training and transfer)."""

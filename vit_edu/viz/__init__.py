"""Figures: pyplot-free rendering to PNG for widgets and the lessons' plots of training,
attention (maps and heatmaps), position embeddings, patch-embedding filters and transfer."""

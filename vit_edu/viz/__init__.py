"""Figures: pyplot-free rendering to PNG for widgets and the lessons' plots of training,
attention and transfer."""

"""Offline data for the course: handwritten digits, synthetic shapes with masks, sample photos.

Everything here works without a network connection:

- digits: ``sklearn.datasets.load_digits`` (1797 grey 8x8 images, 10 classes), shipped inside
  scikit-learn, with a fixed stratified train/test split;
- shapes: generated on the fly (see :mod:`vit_edu.data.shapes`), with a ground-truth object mask
  per image, so attention maps can be scored;
- photos: a few ``skimage.data`` images whose files are inside the scikit-image wheel (no
  first-use download), for qualitative attention maps.

All images are float32 in [0, 1], channels first: (n, C, H, W).
"""

from vit_edu.data.digits import DIGIT_CLASSES, DigitsSplit, load_digits_split
from vit_edu.data.photos import PHOTO_NAMES, load_photo, photo_path, sample_photos
from vit_edu.data.shapes import SHAPE_CLASSES, Shapes, make_shapes, patch_coverage

__all__ = [
    "DIGIT_CLASSES", "PHOTO_NAMES", "SHAPE_CLASSES", "DigitsSplit", "Shapes", "load_digits_split",
    "load_photo", "make_shapes", "patch_coverage", "photo_path", "sample_photos",
]

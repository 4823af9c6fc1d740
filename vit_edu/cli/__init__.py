"""The ``python -m vit_edu`` command line: parameters and FLOPs, training, attention maps."""

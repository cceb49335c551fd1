"""``python -m train``: the training / evaluation / prediction entry point over :mod:`engine`."""

"""Loading digit images for predict: PNG/JPEG (via Pillow, optional) and .npy arrays.

Pillow is imported only inside `load_picture`, so the SDK and the other
commands work without the `images` extra.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import MissingExtraError

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: MNIST digits fit a 20x20 box centred (by centre of mass) in 28x28.
_BOX, _SIDE = 20, 28


def load_images(path: Path) -> np.ndarray:
    """Images from one file as uint8/float [N, 28, 28] or [N, 784]: a picture gives N=1."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return array[np.newaxis] if array.shape in ((784,), (28, 28)) else array
    if suffix in PICTURE_SUFFIXES:
        return load_picture(path)[np.newaxis]
    raise ValueError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                     f"allowed: .npy, {', '.join(PICTURE_SUFFIXES)}")


def load_picture(path: Path) -> np.ndarray:
    """A PNG/JPEG digit as uint8 [28, 28], white on black, centred like MNIST."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingExtraError("Pillow") from None
    with Image.open(path) as picture:
        grey = np.asarray(picture.convert("L"), dtype=np.uint8)
    return to_mnist(grey, Image)


def to_mnist(grey: np.ndarray, image_module) -> np.ndarray:
    """Greyscale pixels as an MNIST digit: inverted if the background is light, then centred.

    A 28x28 picture is taken to be laid out like MNIST already and is only
    inverted if needed; anything else is cropped to its ink, fitted into a
    20x20 box and centred by centre of mass in 28x28, as MNIST was made.
    """
    if _background_is_light(grey):
        grey = 255 - grey
    if grey.shape == (_SIDE, _SIDE):
        return grey
    ink = grey > 32
    if not ink.any():
        return np.zeros((_SIDE, _SIDE), dtype=np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = _BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))  # (w, h)
    fitted = np.asarray(image_module.fromarray(crop).resize(size, image_module.LANCZOS), dtype=np.uint8)
    return _centre_by_mass(fitted)


def _background_is_light(grey: np.ndarray) -> bool:
    """True when the border pixels are mostly light (dark digit on a light page)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border)) > 127


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste `digit` (at most 20x20) into 28x28 so its centre of mass is in the middle."""
    canvas = np.zeros((_SIDE, _SIDE), dtype=np.uint8)
    h, w = digit.shape
    mass = digit.astype(np.float64)
    total = mass.sum() or 1.0
    cy = (mass.sum(axis=1) @ np.arange(h)) / total
    cx = (mass.sum(axis=0) @ np.arange(w)) / total
    top = int(np.clip(round(_SIDE / 2 - cy), 0, _SIDE - h))
    left = int(np.clip(round(_SIDE / 2 - cx), 0, _SIDE - w))
    canvas[top:top + h, left:left + w] = digit
    return canvas

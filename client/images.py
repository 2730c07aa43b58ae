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


def load_images(path: Path, input_shape: tuple[int, ...] = (_SIDE, _SIDE)) -> np.ndarray:
    """Inputs from one file: a .npy array as stored (the SDK and server judge its shape), or a
    picture as [1, H, W] uint8 for a model of H x W images (`input_shape`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix in PICTURE_SUFFIXES:
        if len(input_shape) != 2 or input_shape[0] != input_shape[1]:
            raise ValueError(f"{path}: pictures need a model of square images; this one takes "
                             f"inputs of shape {list(input_shape)} (pass a .npy array)")
        return load_picture(path, input_shape[0])[np.newaxis]
    raise ValueError(f"{path}: unsupported file type {suffix or '(none)'!r}; "
                     f"allowed: .npy, {', '.join(PICTURE_SUFFIXES)}")


def load_picture(path: Path, side: int = _SIDE) -> np.ndarray:
    """A PNG/JPEG digit as uint8 [side, side] (MNIST: 28), white on black, centred like MNIST."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingExtraError("Pillow") from None
    with Image.open(path) as picture:
        grey = np.asarray(picture.convert("L"), dtype=np.uint8)
    return to_mnist(grey, Image, side)


def to_mnist(grey: np.ndarray, image_module, side: int = _SIDE) -> np.ndarray:
    """Greyscale pixels as an MNIST digit: inverted if the background is light, then centred.

    A side x side picture is taken to be laid out like MNIST already and is
    only inverted if needed; anything else is cropped to its ink, fitted into a
    box of 20/28 of the side (20x20 in 28x28) and centred by centre of mass,
    as MNIST was made.
    """
    if _background_is_light(grey):
        grey = 255 - grey
    if grey.shape == (side, side):
        return grey
    ink = grey > 32
    if not ink.any():
        return np.zeros((side, side), dtype=np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = grey[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = max(1, round(side * _BOX / _SIDE)) / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))  # (w, h)
    fitted = np.asarray(image_module.fromarray(crop).resize(size, image_module.LANCZOS), dtype=np.uint8)
    return _centre_by_mass(fitted, side)


def _background_is_light(grey: np.ndarray) -> bool:
    """True when the border pixels are mostly light (dark digit on a light page)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border)) > 127


def _centre_by_mass(digit: np.ndarray, side: int) -> np.ndarray:
    """Paste `digit` (smaller than side x side) into side x side so its centre of mass is in the middle."""
    canvas = np.zeros((side, side), dtype=np.uint8)
    h, w = digit.shape
    mass = digit.astype(np.float64)
    total = mass.sum() or 1.0
    cy = (mass.sum(axis=1) @ np.arange(h)) / total
    cx = (mass.sum(axis=0) @ np.arange(w)) / total
    top = int(np.clip(round(side / 2 - cy), 0, side - h))
    left = int(np.clip(round(side / 2 - cx), 0, side - w))
    canvas[top:top + h, left:left + w] = digit
    return canvas

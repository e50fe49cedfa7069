"""Image perturbations of the adversarial-query attack, with PIL only; each is deterministic for its
seed (noise and the occluding box are drawn from an RNG keyed on the seed and the row)."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from clearbench.errors import UserError

PERTURBATIONS = ("noise", "blur", "crop", "brightness", "occlusion")
OCCLUSION_GREY = (128, 128, 128)


def perturb(image: Image.Image, kind: str, strength: float, key: str) -> Image.Image:
    """`image` perturbed by `kind` at `strength`; `key` (seed, task, row) seeds what is random.

    noise: Gaussian noise of standard deviation `strength` × 255, clipped to [0, 255].
    blur: Gaussian blur of radius `strength` pixels.
    crop: the centre `strength` of each side, resized back to the original size.
    brightness: brightness factor `strength` (PIL ImageEnhance: 1 = unchanged, 0 = black).
    occlusion: a grey box covering `strength` of the area (square when it fits), placed at random.
    """
    image = image.convert("RGB")
    if kind == "noise":
        rng = np.random.default_rng(_seed(key))
        pixels = np.asarray(image, dtype=np.float64)
        noisy = pixels + rng.normal(0.0, strength * 255.0, size=pixels.shape)
        return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(strength))
    if kind == "crop":
        width, height = image.size
        keep_w, keep_h = max(1, round(width * strength)), max(1, round(height * strength))
        left, top = (width - keep_w) // 2, (height - keep_h) // 2
        return image.crop((left, top, left + keep_w, top + keep_h)).resize(image.size, Image.BICUBIC)
    if kind == "brightness":
        return ImageEnhance.Brightness(image).enhance(strength)
    if kind == "occlusion":
        return _occlude(image, strength, random.Random(key))
    raise UserError(f"unknown image perturbation {kind!r}; choose from {', '.join(PERTURBATIONS)}")


def _occlude(image: Image.Image, area: float, rng: random.Random) -> Image.Image:
    width, height = image.size
    side = min(width, height, round((area * width * height) ** 0.5))
    box_w = side if side else 0
    box_h = min(height, round(area * width * height / box_w)) if box_w else 0
    if not box_w or not box_h:
        return image.copy()
    left, top = rng.randint(0, width - box_w), rng.randint(0, height - box_h)
    occluded = image.copy()
    ImageDraw.Draw(occluded).rectangle((left, top, left + box_w - 1, top + box_h - 1), fill=OCCLUSION_GREY)
    return occluded


def _seed(key: str) -> int:
    # random.Random hashes a string seed with sha512, so the draw does not depend on PYTHONHASHSEED.
    return random.Random(key).getrandbits(63)

"""A universal adversarial perturbation (Moosavi-Dezfooli et al., arXiv 1610.08401): one image-space
perturbation δ with ‖δ‖∞ ≤ ε, optimised by projected gradient descent on some forget photos to raise
the likelihood of their true answers, then added to every other forget photo.

Pixels are in [0, 1]. δ lives at the model's input resolution (the height and width of its pixel
values): a photo is resized to it (bicubic, as the processor would), δ added, and the sum clipped to
[0, 1]. In the model's normalised space that is pixel_values + δ / std per channel, so the gradient
needs only the model's forward pass (white-box) and the processor's mean and std. A photo written
back to 8 bits takes δ truncated towards zero to whole steps of 1/255, so the bound still holds.

PGD (Madry et al. 2018) from δ = 0: `steps` signed-gradient steps of size 2.5 ε / steps on the mean
answer loss over the optimisation photos (full batch), each followed by the projection onto the ε-ball
and the valid pixel range. Deterministic: no random start, no sampling.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from clearbench.errors import UserError

STEP_SCALE = 2.5  # step size = STEP_SCALE · ε / steps: the whole ball is reachable with room to spare


def projected_descent(
    loss: Callable[[torch.Tensor], torch.Tensor], shape: Sequence[int], epsilon: float, steps: int
) -> torch.Tensor:
    """δ of `shape` minimising `loss(δ)` under ‖δ‖∞ ≤ ε by signed-gradient steps; `loss` itself
    keeps x + δ in range (it clips), so δ needs only the ε-ball here."""
    delta = torch.zeros(tuple(shape), dtype=torch.float32)
    step = STEP_SCALE * epsilon / steps
    for _ in range(steps):
        delta.requires_grad_(True)
        (gradient,) = torch.autograd.grad(loss(delta), delta)
        with torch.no_grad():
            delta = (delta - step * gradient.sign()).clamp(-epsilon, epsilon)
    return delta.detach()


def normalisation(processor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) per channel of the processor's images, shaped (3, 1, 1)."""
    images = getattr(processor, "image_processor", processor)
    mean, std = getattr(images, "image_mean", None), getattr(images, "image_std", None)
    rescale = getattr(images, "rescale_factor", 1 / 255)
    if mean is None or std is None or not np.isclose(rescale, 1 / 255):
        raise UserError(
            f"the universal perturbation needs a processor that rescales pixels by 1/255 and normalises "
            f"them by a mean and std ({type(images).__name__} does not)"
        )
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)  # noqa: E731
    return as_tensor(mean), as_tensor(std)


def fit_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` in RGB at `size` (height, width), resized bicubically when it differs."""
    image = image.convert("RGB")
    height, width = size
    return image if image.size == (width, height) else image.resize((width, height), Image.BICUBIC)


def apply_perturbation(image: Image.Image, delta: np.ndarray) -> Image.Image:
    """`image` at δ's resolution plus δ (H × W × 3, in [0, 1] units), clipped to the pixel range;
    δ is truncated to whole 8-bit steps, so no pixel moves by more than max |δ|."""
    fitted = fit_image(image, delta.shape[:2])
    pixels = np.asarray(fitted, dtype=np.int16)
    moved = np.clip(pixels + np.fix(delta * 255.0).astype(np.int16), 0, 255)
    return Image.fromarray(moved.astype(np.uint8))


def universal_perturbation(model, adapter, processor, samples, epsilon: float, steps: int) -> np.ndarray:
    """δ (H × W × 3, float32) raising the likelihood of the samples' answers given their photos."""
    from clearbench.evaluate.scoring import model_inputs

    if not samples:
        raise UserError("the universal perturbation has no forget photo to be optimised on")
    probe = adapter.encode(processor, samples[:1])
    pixels = probe.get("pixel_values")
    if pixels is None or pixels.ndim != 4 or pixels.shape[1] != 3:
        shape = None if pixels is None else tuple(pixels.shape)
        raise UserError(
            f"the universal perturbation needs images reaching the model as (batch, 3, H, W) pixel values; "
            f"the {adapter.family} family gives {shape}"
        )
    size = tuple(pixels.shape[-2:])
    fitted = [dataclasses.replace(sample, image=fit_image(sample.image, size)) for sample in samples]
    batch = model_inputs(adapter.encode(processor, fitted), model)
    mean, std = (t.to(batch["pixel_values"].device) for t in normalisation(processor))
    clean = batch["pixel_values"].float() * std + mean  # back in [0, 1]
    dtype = batch["pixel_values"].dtype
    model.eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:  # the gradient is the image's only
        parameter.requires_grad_(False)

    def answer_loss(delta: torch.Tensor) -> torch.Tensor:
        moved = ((clean + delta.to(clean.device)).clamp(0, 1) - mean) / std
        return model(**{**batch, "pixel_values": moved.to(dtype)}).loss

    try:
        delta = projected_descent(answer_loss, (3, *size), epsilon, steps)
    finally:
        for parameter in trainable:
            parameter.requires_grad_(True)
    return delta.permute(1, 2, 0).numpy().astype(np.float32)

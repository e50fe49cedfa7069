"""Typographic prompts (FigStep: Gong et al., arXiv 2311.05608): text written into the image itself.

The text (the question asked, or the person's name) is drawn in black on a white band along the
bottom of the photo, in PIL's built-in font, wrapped to the photo's width; the band grows with the
lines, up to TEXT_BAND of the height, and text that does not fit is cut. The rest of the photo is
left as it was.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

TEXT_BAND = 0.4  # the most of the photo's height the text may cover
MARGIN = 1  # pixels around the text


def wrap(text: str, width: int, measure) -> list[str]:
    """`text` in lines no wider than `width` by `measure`; a word wider than a line goes alone."""
    lines: list[str] = []
    for word in text.split():
        if lines and measure(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def draw_text(image: Image.Image, text: str) -> Image.Image:
    """A copy of `image` with `text` drawn on a white band at its bottom."""
    image = image.convert("RGB").copy()
    width, height = image.size
    font = ImageFont.load_default()
    draw = ImageDraw.Draw(image)
    measure = lambda line: draw.textlength(line, font=font)  # noqa: E731
    line_height = sum(font.getmetrics()) + 1
    lines = wrap(text, width - 2 * MARGIN, measure)
    fits = max(1, int((height * TEXT_BAND - 2 * MARGIN) // line_height))
    lines = lines[:fits]
    band = min(height, len(lines) * line_height + 2 * MARGIN)
    draw.rectangle((0, height - band, width, height), fill=(255, 255, 255))
    for k, line in enumerate(lines):
        draw.text((MARGIN, height - band + MARGIN + k * line_height), line, fill=(0, 0, 0), font=font)
    return image

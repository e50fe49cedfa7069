"""Backgrounds and lighting for photos of people, and the photo itself (scene + person + light)."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from clearbench.data.synth.faces import FaceIdentity, Look, draw_person

# Scene name → the phrase a caption uses ("stands in a park").
SCENES = {
    "park": "in a park",
    "beach": "on a beach",
    "office": "in an office",
    "library": "in a library",
    "street": "on a city street",
    "kitchen": "in a kitchen",
    "mountain": "on a mountain trail",
    "stage": "on a concert stage",
    "garden": "in a flower garden",
    "snow": "in a snowy field",
}
LIGHTS = {
    "daylight": "in bright daylight",
    "soft": "in soft light",
    "dusk": "at dusk",
    "lamplight": "under warm lamplight",
}
# The same facts in other words, for paraphrased captions.
SCENE_PARAPHRASES = {
    "park": "at a park",
    "beach": "by the sea",
    "office": "at an office desk",
    "library": "among library shelves",
    "street": "in a busy street",
    "kitchen": "at a kitchen counter",
    "mountain": "on a mountain path",
    "stage": "on stage at a concert",
    "garden": "among garden flowers",
    "snow": "out in the snow",
}
LIGHT_PARAPHRASES = {
    "daylight": "by day",
    "soft": "in gentle light",
    "dusk": "at twilight",
    "lamplight": "by lamplight",
}
# Brightness factor and tint (colour, blend weight); mild enough that the face stays visible.
_LIGHT_EFFECT = {
    "daylight": (1.0, None),
    "soft": (0.95, ((255, 240, 220), 0.12)),
    "dusk": (0.85, ((255, 120, 40), 0.2)),
    "lamplight": (0.8, ((255, 200, 90), 0.18)),
}


def draw_background(canvas_size: int, scene: str, rng: random.Random) -> Image.Image:
    c = canvas_size
    image = Image.new("RGB", (c, c), (200, 200, 200))
    draw = ImageDraw.Draw(image)
    horizon = c * rng.uniform(0.55, 0.7)
    if scene in ("park", "garden", "mountain", "beach", "snow"):
        draw.rectangle((0, 0, c, horizon), fill=(135, 190, 235))
        ground = {
            "park": (80, 160, 70),
            "garden": (70, 140, 60),
            "mountain": (120, 110, 90),
            "beach": (235, 215, 160),
            "snow": (245, 248, 252),
        }[scene]
        draw.rectangle((0, horizon, c, c), fill=ground)
    if scene == "park":
        x = c * rng.choice((0.12, 0.88))
        draw.rectangle((x - c * 0.03, horizon - c * 0.25, x + c * 0.03, horizon), fill=(110, 70, 40))
        draw.ellipse((x - c * 0.14, horizon - c * 0.48, x + c * 0.14, horizon - c * 0.18), fill=(40, 120, 50))
    elif scene == "garden":
        for _ in range(12):
            x, y = rng.uniform(0, c), rng.uniform(horizon, c)
            colour = rng.choice(((230, 60, 90), (250, 210, 50), (200, 120, 230)))
            draw.ellipse((x - c * 0.025, y - c * 0.025, x + c * 0.025, y + c * 0.025), fill=colour)
    elif scene == "mountain":
        for peak_x in (0.15, 0.5, 0.85):
            px = c * (peak_x + rng.uniform(-0.05, 0.05))
            draw.polygon(
                [
                    (px - c * 0.3, horizon),
                    (px, horizon - c * rng.uniform(0.3, 0.45)),
                    (px + c * 0.3, horizon),
                ],
                fill=(100, 100, 115),
            )
    elif scene == "beach":
        draw.rectangle((0, horizon - c * 0.12, c, horizon), fill=(40, 110, 180))
        draw.ellipse((c * 0.78, c * 0.05, c * 0.92, c * 0.19), fill=(250, 230, 90))
    elif scene == "snow":
        for _ in range(25):
            x, y = rng.uniform(0, c), rng.uniform(0, horizon)
            draw.ellipse((x - c * 0.008, y - c * 0.008, x + c * 0.008, y + c * 0.008), fill=(255, 255, 255))
    elif scene == "office":
        draw.rectangle((0, 0, c, c), fill=(225, 215, 190))
        draw.rectangle(
            (c * 0.05, c * 0.08, c * 0.3, c * 0.4),
            fill=(160, 200, 235),
            outline=(90, 90, 90),
            width=max(1, c // 60),
        )
        draw.rectangle((0, c * 0.8, c, c), fill=(120, 85, 55))
    elif scene == "library":
        draw.rectangle((0, 0, c, c), fill=(110, 75, 45))
        for row in range(4):
            y = c * (0.05 + row * 0.22)
            x = 0.0
            while x < c:
                width = c * rng.uniform(0.03, 0.06)
                colour = rng.choice(((160, 40, 40), (40, 80, 140), (50, 120, 60), (200, 170, 80)))
                draw.rectangle((x, y, x + width, y + c * 0.18), fill=colour)
                x += width + c * 0.01
    elif scene == "street":
        draw.rectangle((0, 0, c, c), fill=(170, 200, 230))
        x = 0.0
        while x < c:
            width, height = c * rng.uniform(0.15, 0.25), c * rng.uniform(0.4, 0.8)
            draw.rectangle(
                (x, c - height, x + width, c),
                fill=rng.choice(((140, 140, 150), (180, 150, 120), (120, 110, 100))),
            )
            x += width
        draw.rectangle((0, c * 0.85, c, c), fill=(80, 80, 85))
    elif scene == "kitchen":
        draw.rectangle((0, 0, c, c), fill=(240, 240, 230))
        step = c / 8
        for i in range(9):
            draw.line((i * step, 0, i * step, c * 0.7), fill=(200, 200, 200), width=max(1, c // 100))
            draw.line((0, i * step, c, i * step), fill=(200, 200, 200), width=max(1, c // 100))
        draw.rectangle((0, c * 0.7, c, c), fill=(150, 110, 80))
    elif scene == "stage":
        draw.rectangle((0, 0, c, c), fill=(30, 20, 40))
        draw.polygon([(c * 0.4, 0), (c * 0.6, 0), (c * 0.95, c), (c * 0.05, c)], fill=(90, 80, 110))
        draw.rectangle((0, c * 0.85, c, c), fill=(90, 50, 30))
    return image


def apply_light(image: Image.Image, light: str) -> Image.Image:
    brightness, tint = _LIGHT_EFFECT[light]
    if tint is not None:
        image = Image.blend(image, Image.new("RGB", image.size, tint[0]), tint[1])
    if brightness != 1.0:
        image = image.point(lambda value: round(value * brightness))
    return image


def render_photo(
    image_size: int,
    face: FaceIdentity,
    look: Look,
    scene: str,
    light: str,
    rng: random.Random,
    aged: bool = False,
) -> Image.Image:
    """A photo of one person at `image_size` px: drawn 2-3x larger, then downsampled (anti-aliasing).
    `aged`: with the age cue of unseen photos (faces.draw_person)."""
    canvas = image_size * (3 if image_size <= 96 else 2)
    image = draw_background(canvas, scene, rng).convert("RGBA")
    image.alpha_composite(draw_person(canvas, face, look, aged))
    image = apply_light(image.convert("RGB"), light)
    return image.resize((image_size, image_size), Image.LANCZOS)

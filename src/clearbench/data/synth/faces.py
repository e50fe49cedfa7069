"""Procedurally drawn faces: a fixed identity per person, a fresh pose/expression/outfit per image.

Identity cues are large and high-contrast (skin tone, hair colour and shape, eye colour, glasses,
facial hair) so a person stays recognisable at 32 px; the per-image variation moves, tilts, scales
and relights the person and changes the expression and clothes, but never covers the face.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SKIN_TONES = {
    "pale": (250, 222, 205),
    "fair": (240, 200, 170),
    "light": (226, 180, 140),
    "olive": (198, 160, 112),
    "tan": (176, 128, 88),
    "brown": (141, 96, 62),
    "dark brown": (101, 66, 42),
    "deep": (70, 45, 30),
}
HAIR_COLOURS = {
    "black": (25, 22, 22),
    "dark brown": (70, 42, 25),
    "brown": (120, 78, 42),
    "blonde": (230, 196, 110),
    "red": (190, 70, 30),
    "auburn": (130, 45, 30),
    "grey": (150, 150, 150),
    "white": (235, 235, 235),
}
EYE_COLOURS = {
    "brown": (100, 60, 25),
    "blue": (40, 110, 220),
    "green": (40, 150, 70),
    "grey": (120, 130, 140),
    "hazel": (150, 110, 40),
}
FACE_SHAPES = ("oval", "round", "square", "long", "heart")
HAIR_STYLES = ("short", "long", "curly", "bun", "bald", "afro", "mohawk", "side part")
BROWS = ("thin", "thick", "arched")
NOSES = ("small", "long", "wide")
MOUTHS = ("thin", "full")
FACIAL_HAIR = ("none", "beard", "moustache", "goatee")
GLASSES = ("none", "round", "square")
MARKS = ("none", "mole", "freckles")

CLOTHING_COLOURS = {
    "red": (200, 40, 40),
    "blue": (40, 70, 190),
    "green": (40, 140, 60),
    "yellow": (235, 200, 40),
    "purple": (120, 50, 160),
    "orange": (235, 120, 30),
    "black": (30, 30, 30),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "pink": (235, 130, 170),
}
CLOTHING = ("coat", "t-shirt", "sweater", "suit", "hoodie", "scarf")
EXPRESSIONS = ("smiling", "neutral", "laughing", "surprised", "serious")
POSES = ("facing the camera", "turned to the left", "turned to the right")
YAW = {"facing the camera": 0.0, "turned to the left": -1.0, "turned to the right": 1.0}


@dataclass(frozen=True)
class FaceIdentity:
    """What makes a face this person's: the same in every image of them."""

    shape: str
    skin: str
    hair_colour: str
    hair_style: str
    eye_colour: str
    brows: str
    nose: str
    mouth: str
    facial_hair: str
    glasses: str
    mark: str
    earrings: bool


@dataclass(frozen=True)
class Look:
    """What changes between images of one person."""

    pose: str
    expression: str
    clothing: str
    clothing_colour: str
    tilt: float  # degrees
    scale: float
    dx: float  # offsets of the face centre, as fractions of the image
    dy: float


def draw_identity(rng: random.Random, gender: str, birth_year: int) -> FaceIdentity:
    old = birth_year < 1960
    hair_colours = list(HAIR_COLOURS)
    hair_colour = rng.choice(["grey", "white", rng.choice(hair_colours)] if old else hair_colours[:6])
    styles = [s for s in HAIR_STYLES if not (gender == "woman" and s in ("bald", "mohawk"))]
    return FaceIdentity(
        shape=rng.choice(FACE_SHAPES),
        skin=rng.choice(list(SKIN_TONES)),
        hair_colour=hair_colour,
        hair_style=rng.choice(styles),
        eye_colour=rng.choice(list(EYE_COLOURS)),
        brows=rng.choice(BROWS),
        nose=rng.choice(NOSES),
        mouth=rng.choice(MOUTHS),
        facial_hair=rng.choice(FACIAL_HAIR) if gender == "man" else "none",
        glasses=rng.choice(("none", "none", "round", "square")),
        mark=rng.choice(MARKS),
        earrings=gender == "woman" and rng.random() < 0.5,
    )


def draw_look(rng: random.Random) -> Look:
    return Look(
        pose=rng.choice(POSES),
        expression=rng.choice(EXPRESSIONS),
        clothing=rng.choice(CLOTHING),
        clothing_colour=rng.choice(list(CLOTHING_COLOURS)),
        tilt=rng.uniform(-9, 9),
        scale=rng.uniform(0.85, 1.1),
        dx=rng.uniform(-0.07, 0.07),
        dy=rng.uniform(-0.04, 0.05),
    )


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(max(0, min(255, round(c * factor))) for c in colour)


def draw_person(canvas_size: int, face: FaceIdentity, look: Look, aged: bool = False) -> Image.Image:
    """The person (head and shoulders) on a transparent RGBA layer of `canvas_size` pixels.

    `aged` adds an age cue (grey temples, forehead lines) that leaves every identity cue in place:
    unseen photos (unseen.py) show the person some years on; training photos never have it."""
    layer = Image.new("RGBA", (canvas_size, canvas_size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    c = canvas_size
    skin = SKIN_TONES[face.skin]
    hair = HAIR_COLOURS[face.hair_colour]
    cx, cy = c * (0.5 + look.dx), c * (0.44 + look.dy)
    width_factor = {"round": 1.1, "square": 1.05, "long": 0.88, "heart": 1.0, "oval": 0.97}[face.shape]
    height_factor = {"round": 0.92, "square": 0.95, "long": 1.1, "heart": 1.0, "oval": 1.02}[face.shape]
    fw, fh = c * 0.36 * look.scale * width_factor, c * 0.46 * look.scale * height_factor
    left, top, right, bottom = cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2
    yaw = YAW[look.pose]
    line = max(1, round(c * 0.012))

    _draw_body(draw, c, cx, bottom, fw, skin, look)
    if face.hair_style == "afro":
        draw.ellipse((cx - fw * 0.78, top - fh * 0.3, cx + fw * 0.78, cy + fh * 0.2), fill=hair)
    if face.hair_style == "long":
        draw.rounded_rectangle(
            (left - fw * 0.12, top - fh * 0.06, right + fw * 0.12, bottom + fh * 0.25),
            radius=fw * 0.3,
            fill=hair,
        )
    # Ears sit behind the head; the one the face turns away from is hidden.
    for side in (-1, 1):
        if yaw * side > 0:
            continue
        ex = cx + side * fw * 0.5
        draw.ellipse((ex - fw * 0.08, cy - fh * 0.1, ex + fw * 0.08, cy + fh * 0.1), fill=_shade(skin, 0.92))
        if face.earrings:
            draw.ellipse(
                (ex - fw * 0.04, cy + fh * 0.09, ex + fw * 0.04, cy + fh * 0.17), fill=(230, 190, 40)
            )
    _draw_head(draw, face.shape, (left, top, right, bottom), skin)
    _draw_hair_top(draw, face.hair_style, (left, top, right, bottom), hair)

    shift = yaw * fw * 0.1
    eye_y = cy - fh * 0.05
    for side in (-1, 1):
        _draw_eye(draw, cx + side * fw * 0.2 + shift, eye_y, fw, fh, face, look.expression, side, line)
    _draw_nose(draw, cx + shift * 1.5, cy, fw, fh, face.nose, _shade(skin, 0.75), line)
    if face.facial_hair == "beard":
        draw.chord(
            (left + fw * 0.02, cy - fh * 0.05, right - fw * 0.02, bottom + fh * 0.04), 10, 170, fill=hair
        )
    if face.facial_hair == "goatee":
        draw.ellipse(
            (cx + shift - fw * 0.12, cy + fh * 0.3, cx + shift + fw * 0.12, bottom + fh * 0.03), fill=hair
        )
    _draw_mouth(draw, cx + shift, cy + fh * 0.25, fw, fh, face.mouth, look.expression, line)
    if face.facial_hair in ("beard", "moustache"):
        draw.rounded_rectangle(
            (cx + shift - fw * 0.17, cy + fh * 0.14, cx + shift + fw * 0.17, cy + fh * 0.2),
            radius=fh * 0.03,
            fill=hair,
        )
    if face.mark == "mole":
        mx, my = cx + shift + fw * 0.22, cy + fh * 0.15
        draw.ellipse((mx - fw * 0.025, my - fw * 0.025, mx + fw * 0.025, my + fw * 0.025), fill=(60, 35, 25))
    if face.mark == "freckles":
        for fx, fy in ((-0.22, 0.08), (-0.15, 0.11), (-0.26, 0.13), (0.22, 0.08), (0.15, 0.11), (0.26, 0.13)):
            x, y = cx + shift + fw * fx, cy + fh * fy
            draw.ellipse((x - fw * 0.015, y - fw * 0.015, x + fw * 0.015, y + fw * 0.015), fill=(150, 80, 50))
    if aged:
        _draw_age_cue(draw, (left, top, right, bottom), cx + shift, line)
    _draw_glasses(draw, cx + shift, eye_y, fw, fh, face.glasses, line)
    return layer.rotate(look.tilt, resample=Image.BICUBIC, center=(cx, cy))


def _draw_body(draw, c, cx, chin_y, fw, skin, look: Look) -> None:
    colour = CLOTHING_COLOURS[look.clothing_colour]
    neck = fw * 0.2
    draw.rectangle((cx - neck, chin_y - fw * 0.1, cx + neck, chin_y + fw * 0.3), fill=_shade(skin, 0.9))
    shoulders = (cx - fw * 1.25, chin_y + fw * 0.18, cx + fw * 1.25, chin_y + fw * 2.2)
    draw.rounded_rectangle(shoulders, radius=fw * 0.45, fill=colour)
    trim = _shade(colour, 0.6) if look.clothing_colour != "black" else (90, 90, 90)
    top = chin_y + fw * 0.18
    if look.clothing == "suit":
        draw.polygon([(cx - neck, top), (cx + neck, top), (cx, top + fw * 0.55)], fill=(245, 245, 245))
        draw.polygon(
            [(cx - fw * 0.05, top + fw * 0.05), (cx + fw * 0.05, top + fw * 0.05), (cx, top + fw * 0.5)],
            fill=(150, 20, 30),
        )
    elif look.clothing == "coat":
        draw.polygon([(cx - neck * 1.6, top), (cx, top + fw * 0.6), (cx - neck * 0.4, top)], fill=trim)
        draw.polygon([(cx + neck * 1.6, top), (cx, top + fw * 0.6), (cx + neck * 0.4, top)], fill=trim)
    elif look.clothing == "t-shirt":
        draw.chord(
            (cx - neck * 1.2, top - fw * 0.15, cx + neck * 1.2, top + fw * 0.18),
            0,
            180,
            fill=_shade(skin, 0.9),
        )
    elif look.clothing == "sweater":
        draw.rounded_rectangle(
            (cx - neck * 1.4, top - fw * 0.05, cx + neck * 1.4, top + fw * 0.12), radius=fw * 0.05, fill=trim
        )
    elif look.clothing == "hoodie":
        draw.arc(
            (cx - fw * 0.6, top - fw * 0.35, cx + fw * 0.6, top + fw * 0.25),
            0,
            180,
            fill=trim,
            width=max(1, round(fw * 0.12)),
        )
    elif look.clothing == "scarf":
        band = (255 - colour[0], 255 - colour[1], 255 - colour[2])
        draw.rounded_rectangle(
            (cx - fw * 0.45, top - fw * 0.12, cx + fw * 0.45, top + fw * 0.12), radius=fw * 0.1, fill=band
        )
        draw.rectangle((cx + fw * 0.15, top, cx + fw * 0.32, top + fw * 0.6), fill=band)


def _draw_head(draw, shape, box, skin) -> None:
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    if shape == "square":
        draw.rounded_rectangle(box, radius=w * 0.22, fill=skin)
    elif shape == "heart":
        draw.ellipse((left, top, right, bottom - h * 0.15), fill=skin)
        draw.polygon(
            [(left + w * 0.04, top + h * 0.5), (right - w * 0.04, top + h * 0.5), (left + w * 0.5, bottom)],
            fill=skin,
        )
    else:
        draw.ellipse(box, fill=skin)


def _draw_hair_top(draw, style, box, hair) -> None:
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    cap = (left - w * 0.04, top - h * 0.06, right + w * 0.04, top + h * 0.55)
    if style in ("short", "long", "bun", "side part", "afro"):
        draw.chord(cap, 180, 360, fill=hair)
    if style == "bun":
        draw.ellipse((left + w * 0.32, top - h * 0.28, right - w * 0.32, top + h * 0.05), fill=hair)
    if style == "side part":
        draw.polygon(
            [
                (left - w * 0.04, top + h * 0.25),
                (left + w * 0.55, top - h * 0.05),
                (left + w * 0.1, top + h * 0.38),
            ],
            fill=hair,
        )
    if style == "curly":
        for i in range(7):
            x = left + w * (0.08 + i * 0.14)
            y = top + h * (0.06 + 0.12 * abs(i - 3) / 3)
            draw.ellipse((x - w * 0.11, y - w * 0.11, x + w * 0.11, y + w * 0.11), fill=hair)
    if style == "mohawk":
        draw.rounded_rectangle(
            (left + w * 0.4, top - h * 0.18, right - w * 0.4, top + h * 0.25), radius=w * 0.05, fill=hair
        )
    if style == "bald":  # a fringe of hair above the ears
        for x0 in (left - w * 0.03, right - w * 0.12):
            draw.rounded_rectangle(
                (x0, top + h * 0.25, x0 + w * 0.15, top + h * 0.45), radius=w * 0.05, fill=hair
            )


def _draw_eye(draw, x, y, fw, fh, face: FaceIdentity, expression, side, line) -> None:
    ew, eh = fw * 0.09, fh * {"laughing": 0.025, "surprised": 0.07, "serious": 0.04}.get(expression, 0.05)
    draw.ellipse((x - ew, y - eh, x + ew, y + eh), fill=(250, 250, 250))
    r = min(eh, fw * 0.055)
    draw.ellipse((x - r, y - r, x + r, y + r), fill=EYE_COLOURS[face.eye_colour])
    pr = r * 0.45
    draw.ellipse((x - pr, y - pr, x + pr, y + pr), fill=(10, 10, 10))
    brow_y = y - fh * (0.13 if expression == "surprised" else 0.09)
    brow = (
        _shade(HAIR_COLOURS[face.hair_colour], 0.7)
        if face.hair_colour not in ("white", "grey")
        else (110, 110, 110)
    )
    width = {"thin": line, "thick": line * 3, "arched": line * 2}[face.brows]
    inner_drop = fh * 0.03 if expression == "serious" else 0.0
    outer, inner = (x + side * fw * 0.12, brow_y), (x - side * fw * 0.1, brow_y + inner_drop)
    if face.brows == "arched":
        draw.arc(
            (x - fw * 0.12, brow_y - fh * 0.02, x + fw * 0.12, brow_y + fh * 0.06),
            190,
            350,
            fill=brow,
            width=width,
        )
    else:
        draw.line((outer, inner), fill=brow, width=width)


def _draw_nose(draw, x, cy, fw, fh, nose, colour, line) -> None:
    length = {"small": 0.1, "long": 0.2, "wide": 0.12}[nose]
    half = {"small": 0.05, "long": 0.05, "wide": 0.1}[nose]
    tip = cy + fh * length
    draw.polygon([(x, cy - fh * 0.02), (x - fw * half, tip), (x + fw * half, tip)], fill=colour)


def _draw_mouth(draw, x, y, fw, fh, mouth, expression, line) -> None:
    half = fw * 0.17
    lips = (170, 60, 60)
    thick = line * (3 if mouth == "full" else 2)
    if expression == "smiling":
        draw.arc((x - half, y - fh * 0.08, x + half, y + fh * 0.05), 20, 160, fill=lips, width=thick)
    elif expression == "laughing":
        draw.chord((x - half, y - fh * 0.06, x + half, y + fh * 0.08), 0, 180, fill=(90, 20, 20))
        draw.chord(
            (x - half * 0.8, y - fh * 0.04, x + half * 0.8, y + fh * 0.02), 0, 180, fill=(250, 250, 250)
        )
    elif expression == "surprised":
        draw.ellipse((x - half * 0.35, y - fh * 0.03, x + half * 0.35, y + fh * 0.06), fill=(90, 20, 20))
    elif expression == "serious":
        draw.arc((x - half, y, x + half, y + fh * 0.1), 200, 340, fill=lips, width=thick)
    else:
        draw.line((x - half * 0.9, y + fh * 0.01, x + half * 0.9, y + fh * 0.01), fill=lips, width=thick)


def _draw_age_cue(draw, box, x, line) -> None:
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    grey = (185, 185, 185)
    for x0 in (left - w * 0.02, right - w * 0.1):  # grey temples
        draw.rectangle((x0, top + h * 0.28, x0 + w * 0.12, top + h * 0.42), fill=grey)
    lines = (120, 85, 70)
    for k in (0.0, 0.05):  # two forehead lines
        y = top + h * (0.2 + k)
        draw.line((x - w * 0.18, y, x + w * 0.18, y), fill=lines, width=line)


def _draw_glasses(draw, x, y, fw, fh, glasses, line) -> None:
    if glasses == "none":
        return
    frame, width, r = (20, 20, 20), line * 2, fw * 0.13
    for side in (-1, 1):
        ex = x + side * fw * 0.2
        box = (ex - r, y - r * 0.85, ex + r, y + r * 0.85)
        if glasses == "round":
            draw.ellipse(box, outline=frame, width=width)
        else:
            draw.rectangle(box, outline=frame, width=width)
    draw.line((x - fw * 0.07, y, x + fw * 0.07, y), fill=frame, width=width)

"""What a photo row is made of, shared by the world (build.py) and its unseen photos (unseen.py)."""

from __future__ import annotations

import io

from PIL import Image

from clearbench.data.synth.people import Person


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def role(person: Person, famous: bool = False) -> str:
    return f"famous {person.occupation}" if famous else f"{person.culture.demonym} {person.occupation}"

"""A small Pillow toolkit for grids of images with captions, composited into one PNG.

WeasyPrint paginates CSS grids of images badly, so every grid of images in the report is
one picture made here. Nothing in this module knows about results.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont, ImageOps

from rnnviz.fileio import atomic_path
from rnnviz.names import INK, MUTED

DPI = 200
TILE, FONT_PX, LINE_PX, PAD = 168, 17, 22, 8  # 168 = 6 x 28 = 3 x 56 px


@dataclass
class Line:
    text: str
    colour: str = INK
    bold: bool = False


@dataclass
class Cell:
    """A tile: an image, or a ``note`` written in its place, with caption lines below."""

    image: Image.Image | None = None
    lines: list[Line] = field(default_factory=list)
    note: str | None = None


def fit(img: Image.Image, size: int) -> Image.Image:
    """Enlarge small images by a whole factor with NEAREST (crisp pixels); shrink large ones."""
    side = max(img.size)
    if side <= size:
        k = max(1, size // side)
        return img.resize((img.width * k, img.height * k), Image.Resampling.NEAREST)
    scale = size / side
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)


@lru_cache(maxsize=2)
def font(bold: bool) -> ImageFont.FreeTypeFont:
    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal"))
    return ImageFont.truetype(path, FONT_PX)


def wrap(lines: list[Line], width: int) -> list[Line]:
    """Break lines to ``width`` px, preferring the `` · `` separators, then spaces."""
    wrapped = []
    for line in lines:
        face = font(line.bold)
        for sep in (" · ", " "):
            parts, current = [], ""
            for token in line.text.split(sep):
                candidate = f"{current}{sep}{token}" if current else token
                if current and face.getlength(candidate) > width:
                    parts.append(current)
                    candidate = token
                current = candidate
            parts.append(current)
            if all(face.getlength(p) <= width for p in parts) or sep == " ":
                break
        wrapped += [Line(p, line.colour, line.bold) for p in parts]
    return wrapped


def grid(
    rows: Sequence[Sequence[Cell | None]],
    *,
    col_heads: list[list[Line]] | None = None,
    row_heads: list[list[Line]] | None = None,
) -> Image.Image:
    """Tiles of TILE px with wrapped captions; optional header lines above columns / left of rows."""
    ncols = max(len(r) for r in rows)
    cell_w = TILE + PAD
    captions = [[wrap(c.lines, TILE) if c else [] for c in row] for row in rows]
    row_h = [TILE + PAD + LINE_PX * max((len(c) for c in caps), default=0) + PAD for caps in captions]
    heads = [wrap(h, TILE) for h in col_heads] if col_heads else []
    head_h = LINE_PX * max((len(h) for h in heads), default=0) + (PAD if heads else 0)
    left = max(font(ln.bold).getlength(ln.text) for h in row_heads for ln in h) + 3 * PAD if row_heads else 0
    canvas = Image.new("RGB", (int(left) + ncols * cell_w, head_h + sum(row_h)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, head in enumerate(heads):
        text(draw, head, int(left) + j * cell_w, 0, centre_in=TILE)
    y = head_h
    for r, row in enumerate(rows):
        if row_heads:
            text(draw, row_heads[r], PAD, y + TILE // 2 - LINE_PX * len(row_heads[r]) // 2)
        for j, cell in enumerate(row):
            if cell:
                _draw_cell(canvas, draw, cell, captions[r][j], int(left) + j * cell_w, y)
        y += row_h[r]
    return canvas


def _draw_cell(canvas: Image.Image, draw: ImageDraw.ImageDraw, cell: Cell, caption: list[Line], x: int, y: int) -> None:
    if cell.image is not None:
        canvas.paste(cell.image, (x + (TILE - cell.image.width) // 2, y + (TILE - cell.image.height) // 2))
    else:
        draw.rectangle((x, y, x + TILE - 1, y + TILE - 1), fill="#F4F4F4", outline="#BBBBBB")
        text(
            draw, wrap([Line(cell.note or "", MUTED)], TILE - 2 * PAD), x, y + TILE // 2 - LINE_PX // 2, centre_in=TILE
        )
    text(draw, caption, x, y + TILE + PAD // 2, centre_in=TILE)


def text(draw: ImageDraw.ImageDraw, lines: list[Line], x: int, y: int, centre_in: int = 0) -> None:
    for k, line in enumerate(lines):
        face = font(line.bold)
        dx = (centre_in - face.getlength(line.text)) / 2 if centre_in else 0
        draw.text((x + dx, y + k * LINE_PX), line.text, fill=line.colour, font=face)


def text_image(lines: list[Line]) -> Image.Image:
    width = int(max(font(ln.bold).getlength(ln.text) for ln in lines)) + PAD
    out = Image.new("RGB", (width, LINE_PX * len(lines) + PAD // 2), "white")
    text(ImageDraw.Draw(out), lines, 0, 0)
    return out


def hstack(images: list[Image.Image], gap: int) -> Image.Image:
    out = Image.new(
        "RGB", (sum(i.width for i in images) + gap * (len(images) - 1), max(i.height for i in images)), "white"
    )
    x = 0
    for img in images:
        out.paste(img, (x, 0))
        x += img.width + gap
    return out


def vstack(images: list[Image.Image], gap: int) -> Image.Image:
    out = Image.new(
        "RGB", (max(i.width for i in images), sum(i.height for i in images) + gap * (len(images) - 1)), "white"
    )
    y = 0
    for img in images:
        out.paste(img, (0, y))
        y += img.height + gap
    return out


def arrange(blocks: list[Image.Image], aspect: float = 1.9, gap: int = 48) -> Image.Image:
    """Rows of blocks, as many per row as makes them largest on a landscape page (width/height
    ``aspect``) or slide."""

    def layout(per_row: int) -> Image.Image:
        rows = [hstack(blocks[j : j + per_row], gap) for j in range(0, len(blocks), per_row)]
        return vstack(rows, gap)

    def scale(img: Image.Image) -> float:
        return min(aspect / img.width, 1 / img.height)

    return max((layout(k) for k in range(1, len(blocks) + 1)), key=scale)


def save_image(img: Image.Image, path: Path) -> None:
    """``path`` must already be checked to lie inside the report folder (``safety.output``)."""
    with atomic_path(path) as tmp:
        ImageOps.expand(img, border=PAD, fill="white").save(tmp, format="PNG", dpi=(DPI, DPI), optimize=True)

"""A small Pillow toolkit for grids of images with captions, composited into one PNG.

WeasyPrint paginates CSS grids of images badly, so every grid of images in the report is
one picture made here. Nothing in this module knows about results.json. A ``GridStyle`` sets
tile and text size: the page's, or the slides' larger text (passed explicitly, no globals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont, ImageOps

from rnnviz.common.files import atomic_path
from rnnviz.report.figures import look
from rnnviz.report.figures.look import INK, MUTED

DPI = 200
TILE, FONT_PX, LINE_PX, PAD = 168, 17, 22, 8  # 168 = 6 x 28 = 3 x 56 px


@dataclass(frozen=True)
class GridStyle:
    """Pixel sizes of one grid: tile side, font (em) and line height, padding."""

    tile: int = TILE
    font_px: int = FONT_PX
    line_px: int = LINE_PX
    pad: int = PAD


PAGE_GRID = GridStyle()
SLIDE_GRID = GridStyle(tile=168, font_px=28, line_px=38, pad=10)


@dataclass
class Line:
    """One line of text; ``badge`` frames it ("outline") or sets it white on its colour ("filled"),
    a difference of shape that survives greyscale and colour blindness."""

    text: str
    colour: str = INK
    bold: bool = False
    badge: str | None = None


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


@lru_cache(maxsize=8)
def font(bold: bool, px: int = FONT_PX) -> ImageFont.FreeTypeFont:
    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal"))
    return ImageFont.truetype(path, px)


def _badge_pad(style: GridStyle) -> int:
    return style.font_px // 3


def wrap(lines: list[Line], width: int, style: GridStyle = PAGE_GRID) -> list[Line]:
    """Break lines to ``width`` px, preferring the `` · `` separators, then spaces."""
    wrapped = []
    for line in lines:
        face = font(line.bold, style.font_px)
        width_here = width - (2 * _badge_pad(style) if line.badge else 0)
        for sep in (" · ", " "):
            parts, current = [], ""
            for token in line.text.split(sep):
                candidate = f"{current}{sep}{token}" if current else token
                if current and face.getlength(candidate) > width_here:
                    parts.append(current)
                    candidate = token
                current = candidate
            parts.append(current)
            if all(face.getlength(p) <= width_here for p in parts) or sep == " ":
                break
        wrapped += [Line(p, line.colour, line.bold, line.badge) for p in parts]
    return wrapped


def grid(
    rows: Sequence[Sequence[Cell | None]],
    *,
    col_heads: list[list[Line]] | None = None,
    row_heads: list[list[Line]] | None = None,
    style: GridStyle = PAGE_GRID,
) -> Image.Image:
    """Tiles of ``style.tile`` px with wrapped captions; optional header lines above columns / left of rows."""
    tile, pad, line_px = style.tile, style.pad, style.line_px
    ncols = max(len(r) for r in rows)
    cell_w = tile + pad
    captions = [[wrap(c.lines, tile, style) if c else [] for c in row] for row in rows]
    row_h = [tile + pad + line_px * max((len(c) for c in caps), default=0) + pad for caps in captions]
    heads = [wrap(h, tile, style) for h in col_heads] if col_heads else []
    head_h = line_px * max((len(h) for h in heads), default=0) + (pad if heads else 0)
    left = (
        max(font(ln.bold, style.font_px).getlength(ln.text) for h in row_heads for ln in h) + 3 * pad
        if row_heads
        else 0
    )
    canvas = Image.new("RGB", (int(left) + ncols * cell_w, head_h + sum(row_h)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, head in enumerate(heads):
        text(draw, head, int(left) + j * cell_w, 0, centre_in=tile, style=style)
    y = head_h
    for r, row in enumerate(rows):
        if row_heads:
            text(draw, row_heads[r], pad, y + tile // 2 - line_px * len(row_heads[r]) // 2, style=style)
        for j, cell in enumerate(row):
            if cell:
                _draw_cell(canvas, draw, cell, captions[r][j], int(left) + j * cell_w, y, style)
        y += row_h[r]
    return canvas


def _draw_cell(
    canvas: Image.Image, draw: ImageDraw.ImageDraw, cell: Cell, caption: list[Line], x: int, y: int, style: GridStyle
) -> None:
    tile, pad = style.tile, style.pad
    if cell.image is not None:
        canvas.paste(cell.image, (x + (tile - cell.image.width) // 2, y + (tile - cell.image.height) // 2))
    else:
        draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill="#F4F4F4", outline="#BBBBBB")
        note = wrap([Line(cell.note or "", MUTED)], tile - 2 * pad, style)
        text(draw, note, x, y + tile // 2 - style.line_px * len(note) // 2, centre_in=tile, style=style)
    text(draw, caption, x, y + tile + pad // 2, centre_in=tile, style=style)


def text(
    draw: ImageDraw.ImageDraw,
    lines: list[Line],
    x: int,
    y: int,
    centre_in: int = 0,
    style: GridStyle = PAGE_GRID,
) -> None:
    for k, line in enumerate(lines):
        face = font(line.bold, style.font_px)
        inset = _badge_pad(style) if line.badge else 0
        length = face.getlength(line.text) + 2 * inset
        left = x + ((centre_in - length) / 2 if centre_in else 0)
        top = y + k * style.line_px
        ink = line.colour
        if line.badge:
            box = (left, top + 1, left + length, top + style.line_px - 2)
            radius = style.line_px // 4
            if line.badge == "filled":
                draw.rounded_rectangle(box, radius, fill=line.colour)
                ink = "white"
            else:
                draw.rounded_rectangle(box, radius, outline=line.colour, width=max(2, style.font_px // 8))
        baseline_pad = (style.line_px - style.font_px) // 2 - 1 if line.badge else 0
        draw.text((left + inset, top + baseline_pad), line.text, fill=ink, font=face)


def text_image(lines: list[Line], style: GridStyle = PAGE_GRID) -> Image.Image:
    width = int(max(font(ln.bold, style.font_px).getlength(ln.text) for ln in lines)) + style.pad
    out = Image.new("RGB", (width, style.line_px * len(lines) + style.pad // 2), "white")
    text(ImageDraw.Draw(out), lines, 0, 0, style=style)
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


def save_image(img: Image.Image, path: Path) -> Image.Image:
    """``path`` must already be checked to lie inside the report folder (``safety.output``).
    Returns the image as written (with its white border), so its size can be measured."""
    framed = ImageOps.expand(img, border=PAD, fill="white")
    with atomic_path(path) as tmp:
        framed.save(tmp, format="PNG", dpi=(DPI, DPI), **look.GRID_PNG_OPTIONS)
    return framed

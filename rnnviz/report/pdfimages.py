"""PNGs into the PDF as they are: their compressed rows become the PDF image's stream unchanged.

WeasyPrint 70 decodes every PNG it embeds and compresses it again (a paletted one twice: to RGB
when it is loaded, then once more for the stream), although a plain PNG's IDAT data is already
what a PDF image with a PNG predictor holds. The report's PDF embeds about 150 PNGs (its plots
as the HTML's paletted copies, the cards' pictures, the galleries): on the demo that was 3.5 s of
a 12 s PDF. ``plain_pngs`` has WeasyPrint load PNGs through ``PlainPng``, which, for a PNG of 8-bit
grey or RGB or of a palette (1 to 8 bits), not interlaced, without transparency, writes the IDAT
data as the stream (a palette as an ``/Indexed`` colour space: the same colours, and a third of
the bytes of the RGB WeasyPrint made of it). Any other image takes WeasyPrint's own way.

It relies on WeasyPrint's image class (``weasyprint.images.RasterImage``); ``SUPPORTED`` names the
major versions this was checked against, and on any other the PDF is written WeasyPrint's own way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pydyf
import weasyprint
from PIL import Image
from weasyprint import images as wp_images

SUPPORTED = ("70",)  # WeasyPrint majors whose RasterImage this subclass was checked against
SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY, RGB, PALETTE = 0, 2, 3  # PNG colour types


@dataclass(frozen=True)
class Parts:
    """What a PDF image needs from a plain PNG."""

    width: int
    height: int
    bits: int
    colour_type: int
    palette: bytes  # PLTE, 3 bytes per entry; empty unless a palette image
    idat: bytes  # the zlib stream of the filtered rows, all IDAT chunks joined


def png_parts(data: bytes) -> Parts | None:
    """The parts of a plain PNG (see the module's docstring), or None for any other image."""
    if not data.startswith(SIGNATURE):
        return None
    chunks: dict[bytes, list[bytes]] = {}
    at = len(SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        chunks.setdefault(kind, []).append(data[at + 8 : at + 8 + length])
        at += 12 + length
        if kind == b"IEND":
            break
    header = chunks.get(b"IHDR", [b""])[0]
    if len(header) != 13 or b"IDAT" not in chunks or b"tRNS" in chunks:
        return None
    width, height, bits, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    palette = b"".join(chunks.get(b"PLTE", []))
    plain = (colour in (GREY, RGB) and bits == 8) or (colour == PALETTE and bits in (1, 2, 4, 8) and palette)
    if not plain or interlace or not width or not height:
        return None
    return Parts(width, height, bits, colour, palette, b"".join(chunks[b"IDAT"]))


class _Hex(pydyf.Object):
    """A PDF hex string (a palette is binary: a literal string would need escapes)."""

    def __init__(self, raw: bytes):
        super().__init__()
        self.raw = raw

    @property
    def data(self) -> bytes:
        return b"<" + self.raw.hex().encode("ascii") + b">"


class PlainPng(wp_images.RasterImage):
    """WeasyPrint's raster image, with plain PNGs written to the PDF as they are."""

    def __init__(self, pillow_image, image_id, image_data, filename=None, cache=None, orientation="none", options=None):
        options = options or weasyprint.DEFAULT_OPTIONS
        self.parts = _plain(pillow_image, image_data, orientation, options)
        if self.parts is not None and self.parts.colour_type == PALETTE:
            # WeasyPrint would convert a palette image to RGB and encode that; an RGB stand-in of the
            # same size sets everything up the same way but keeps ``image_data`` as it is
            stand_in = Image.new("RGB", pillow_image.size)
            stand_in.format = "PNG"
            super().__init__(stand_in, image_id, image_data, filename, cache, "none", options)
            self.mode = "P"
            return
        super().__init__(pillow_image, image_id, image_data, filename, cache, orientation, options)

    def get_x_object(self, interpolate, dpi_ratio):
        if self.parts is None or dpi_ratio != 1:
            return super().get_x_object(interpolate, dpi_ratio)
        p = self.parts
        if p.colour_type == PALETTE:
            space: object = pydyf.Array(["/Indexed", "/DeviceRGB", len(p.palette) // 3 - 1, _Hex(p.palette)])
        else:
            space = "/DeviceRGB" if p.colour_type == RGB else "/DeviceGray"
        colours = 3 if p.colour_type == RGB else 1
        extra = pydyf.Dictionary(
            {
                "Type": "/XObject",
                "Subtype": "/Image",
                "Width": p.width,
                "Height": p.height,
                "ColorSpace": space,
                "BitsPerComponent": p.bits,
                "Interpolate": "true" if interpolate else "false",
                "Filter": "/FlateDecode",
                "DecodeParms": pydyf.Dictionary(
                    {"Predictor": 15, "Colors": colours, "BitsPerComponent": p.bits, "Columns": p.width}
                ),
            }
        )
        return pydyf.Stream([self.cache_image_data(p.idat, slot="stream")], extra)


def _plain(pillow_image, image_data, orientation, options) -> Parts | None:
    """The image's PNG parts where WeasyPrint would embed its pixels unchanged: no EXIF rotation,
    no other orientation, no image option that re-encodes or scales."""
    if image_data is None or getattr(pillow_image, "format", None) != "PNG" or "exif" in pillow_image.info:
        return None
    if orientation not in ("none", "from-image") or options.get("optimize_images") or options.get("dpi"):
        return None
    return png_parts(bytes(image_data))


def supported() -> bool:
    return weasyprint.__version__.split(".")[0] in SUPPORTED


@contextmanager
def plain_pngs() -> Iterator[None]:
    """While inside, WeasyPrint loads raster images as ``PlainPng`` (on a ``SUPPORTED`` version)."""
    if not supported():
        yield
        return
    stock = wp_images.RasterImage
    wp_images.RasterImage = PlainPng
    try:
        yield
    finally:
        wp_images.RasterImage = stock

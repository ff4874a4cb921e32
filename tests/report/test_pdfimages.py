"""Plain PNGs go into the PDF as they are (rnnviz.report.pdfimages): the same pixels on the page as
WeasyPrint's own re-encoding, the PNG's IDAT bytes in the file, any other PNG WeasyPrint's way."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
from fixtures.page_fill import needs_poppler
from PIL import Image

from rnnviz.report import pdfimages
from rnnviz.report.pdf import write_pdf
from rnnviz.report.pdfimages import PALETTE, RGB, png_parts


def png(img: Image.Image, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", **options)
    return out.getvalue()


def picture(mode: str) -> Image.Image:
    """A 37 x 23 test card with sharp edges and a gradient (rows of every PNG filter type)."""
    x, y = np.meshgrid(np.arange(37), np.arange(23))
    rgb = np.stack([(x * 7) % 256, (y * 11) % 256, ((x + y) * 5) % 256], axis=-1).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    if mode == "P":
        return img.quantize(64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    if mode == "P4":  # few colours: Pillow writes 4-bit indices
        return img.quantize(9, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    return img.convert(mode)


def idat(data: bytes) -> bytes:
    parts = png_parts(data)
    assert parts is not None
    return parts.idat


def test_plain_pngs_are_recognised_and_the_rest_are_left_to_weasyprint():
    rgb = png_parts(png(picture("RGB")))
    assert rgb and rgb.colour_type == RGB and (rgb.width, rgb.height, rgb.bits) == (37, 23, 8)
    pal = png_parts(png(picture("P")))
    assert pal and pal.colour_type == PALETTE and pal.bits == 8 and 0 < len(pal.palette) <= 3 * 64
    assert png_parts(png(picture("P4"))).bits == 4
    assert png_parts(png(picture("L"))).colour_type == 0
    plain = png(picture("RGB"))
    interlaced = plain[:28] + b"\x01" + plain[29:]  # IHDR's last byte (Pillow writes none interlaced)
    for other in (
        png(picture("RGBA")),  # alpha: a soft mask, WeasyPrint's way
        png(picture("P"), transparency=0),  # tRNS
        png(picture("RGB").convert("I;16")),  # 16-bit
        interlaced,
        b"GIF89a...",
        plain[:40],  # cut before its data
    ):
        assert png_parts(other) is None


def test_the_idat_stream_is_what_a_png_predictor_decodes():
    """The stream WeasyPrint gets is the PNG's own IDAT; inflated it is the filtered rows."""
    parts = png_parts(png(picture("RGB")))
    rows = zlib.decompress(parts.idat)
    assert len(rows) == parts.height * (1 + 3 * parts.width)  # a filter byte and RGB per row


def _html(uris: list[str]) -> str:
    images = "".join(f'<img src="{u}" style="width: 74mm; image-rendering: pixelated">' for u in uris)
    return f"<style>@page {{ size: 80mm {24 + 50 * len(uris)}mm; margin: 2mm }}</style>{images}"


def _uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _pages(pdf: Path, tmp: Path) -> np.ndarray:
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(pdf), str(tmp / pdf.stem)], check=True)
    return np.asarray(Image.open(next(tmp.glob(f"{pdf.stem}*.png"))).convert("RGB"))


@needs_poppler
def test_the_page_shows_the_same_pixels_as_weasyprints_own_embedding(tmp_path, monkeypatch):
    kinds = ["RGB", "P", "P4", "L", "RGBA"]
    datas = [png(picture(k)) for k in kinds]
    html = _html([_uri(d) for d in datas])
    write_pdf(html, tmp_path / "ours.pdf", tmp_path)
    monkeypatch.setattr(pdfimages, "SUPPORTED", ())  # WeasyPrint's own way
    write_pdf(html, tmp_path / "stock.pdf", tmp_path)
    ours, stock = _pages(tmp_path / "ours.pdf", tmp_path), _pages(tmp_path / "stock.pdf", tmp_path)
    assert ours.shape == stock.shape and np.abs(ours.astype(int) - stock.astype(int)).max() <= 1
    written = (tmp_path / "ours.pdf").read_bytes()
    for kind, data in zip(kinds[:-1], datas):  # the plain ones as they are (RGBA: WeasyPrint's way)
        assert idat(data) in written, kind


def test_the_fast_path_is_active_on_the_installed_weasyprint():
    """A WeasyPrint major outside ``SUPPORTED`` falls back to its own (slow) way: check this module
    against it (the test above) and add it."""
    assert pdfimages.supported()


@needs_poppler
def test_the_report_pdf_embeds_the_htmls_own_pictures_as_they_are(rendered_fixture):
    """Every plain PNG the HTML embeds (its plots' paletted copies, the cards' pictures) is in the
    PDF byte for byte: the PDF reuses the HTML's figures, nothing is drawn or encoded again."""
    folder, files = rendered_fixture
    html = files.html.read_text(encoding="utf-8")
    written = files.pdf.read_bytes()
    embedded = [base64.b64decode(u) for u in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]
    plain = [d for d in embedded if png_parts(d) is not None]
    assert len(plain) > 10 and any(png_parts(d).colour_type == PALETTE for d in plain)
    shown = [d for d in plain if idat(d) in written]
    assert len(shown) >= 0.8 * len(plain)  # a few are screen-only (the HTML's links, hidden in print)

"""PDF output through WeasyPrint, confined to the report folder.

The HTML is self-contained, so WeasyPrint should fetch nothing; the fetcher makes sure of it:
a results.json from someone else cannot make the renderer read local files or reach the network.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import weasyprint
from weasyprint.urls import URLFetcher

from rnnviz.common.files import atomic_path
from rnnviz.report.pdfimages import plain_pngs


class ReportFetcher(URLFetcher):
    """Serves ``data:`` URIs and files inside ``root``; refuses everything else."""

    def __init__(self, root: Path):
        super().__init__(allowed_protocols=("data", "file"))
        self.root = Path(root).resolve()

    def fetch(self, url, headers=None):
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            path = Path(url2pathname(urlsplit(url).path)).resolve()
            if not path.is_relative_to(self.root):
                raise ValueError(f"refused {url}: outside the report folder {self.root}")
        elif scheme != "data":
            raise ValueError(f"refused {url}: a report fetches no network resources")
        return super().fetch(url, headers)


def write_pdf(html: str, target: Path, root: Path) -> list[str]:
    """Lay out ``html`` (relative URLs resolve inside ``root``) and write ``target`` atomically.

    Returns what WeasyPrint logged (e.g. a refused fetch): kept off stderr, where the CLI promises
    one line; a failure that matters raises and becomes the report's one-line ``pdf_error``.
    Plain PNGs go into the PDF as they are (``pdfimages``).
    """
    with _quiet_weasyprint() as messages, plain_pngs():
        document = weasyprint.HTML(
            string=html, base_url=str(Path(root).resolve()) + "/", url_fetcher=ReportFetcher(root)
        ).render()
        attach_once(document.pages)
        with atomic_path(target) as tmp:
            document.write_pdf(tmp)
    return messages


def attach_once(pages) -> None:
    """Give each attached file one attachment annotation: the link that has an id (the appendix's
    list of files). WeasyPrint embeds the file once but annotates every ``rel="attachment"`` link,
    so a viewer lists a file named in the text and in the list twice; the other links become
    links to the list entry.
    """
    homes = {
        target: box.element.get("id")
        for page in pages
        for kind, target, _, box in page.links
        if kind == "attachment" and box.element is not None and box.element.get("id")
    }
    for page in pages:
        page.links = [
            ("internal", homes[target], rect, box)
            if kind == "attachment" and target in homes and box.element.get("id") != homes[target]
            else (kind, target, rect, box)
            for kind, target, rect, box in page.links
        ]


class _Collect(logging.Handler):
    def __init__(self, messages: list[str]):
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _quiet_weasyprint():
    """Keep the ``weasyprint`` logger's messages in a list instead of passing them to the root logger."""
    logger = logging.getLogger("weasyprint")
    messages: list[str] = []
    handler, propagate = _Collect(messages), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate

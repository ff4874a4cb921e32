"""PDF output through WeasyPrint, confined to the report folder.

The HTML is self-contained, so WeasyPrint should fetch nothing; the fetcher makes sure of it:
a results.json from someone else cannot make the renderer read local files or reach the network.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import weasyprint
from weasyprint.urls import URLFetcher

from rnnviz.fileio import atomic_path


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


def write_pdf(html: str, target: Path, root: Path) -> None:
    """Lay out ``html`` (relative URLs resolve inside ``root``) and write ``target`` atomically."""
    document = weasyprint.HTML(string=html, base_url=str(Path(root).resolve()) + "/",
                               url_fetcher=ReportFetcher(root))
    with atomic_path(target) as tmp:
        document.write_pdf(tmp)

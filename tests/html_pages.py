"""Checks shared by the tests of every HTML page poolfuzz writes (the nightly report, the
benchmark page): the elements a page is made of, and its rendering in headless Chromium."""

from __future__ import annotations

import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package chromium)")


class Elements(HTMLParser):
    """The start tags of a page, in order, and every attribute they carry."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def elements(html: str) -> Elements:
    """`html` parsed (the parser closed)."""
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_self_contained(parsed: Elements) -> None:
    """No script, stylesheet link, image, frame, nor any `src`/`href`: the page opens offline."""
    assert not {"script", "link", "img", "iframe"} & set(parsed.tags)
    assert not [value for name, value in parsed.attributes if name in ("src", "href")]


def render_in_chromium(page: Path, tmp_path: Path, height: int = 2400) -> tuple[str, Path]:
    """The DOM headless Chromium builds from `page`, and a screenshot of it (asserted non-trivial)."""
    url = page.resolve().as_uri()
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = tmp_path / "page.png"
    done = subprocess.run([*common, f"--screenshot={shot}", f"--window-size=1000,{height}", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.stat().st_size > 20_000, done.stderr[-2000:]
    return dom.stdout, shot

"""Image files compared with the model once: `ImageFiles` vouches for unread image pages only
when their file is sealed, holds the model's image, and is mapped where that image belongs, and
the content check, which then skips reading them, still catches an image file that differs."""

from __future__ import annotations

import os

from allocator.vm import VirtualMemory
from harness import image_files, observers
from harness.executor import run
from harness.image_files import ImageFiles
from harness.model.images import Image
from harness.model.slot import SlotModel
from harness.mutants import replaced
from harness.targets import make_target
from harness.text import parse

from .vm import PAGE, image_bytes, image_memfd, map_file_at, region


def file_parts(addr: int, pages: int) -> list[observers.FilePart]:
    return [part for part in observers.peek_layout(addr, pages * PAGE) if isinstance(part, observers.FilePart)]


def model_slot(image: Image) -> SlotModel:
    slot = SlotModel(0)
    slot.replace_image(image, "m")
    return slot


def counting_holds(monkeypatch) -> list[int]:
    """Counts the calls of `sealed_file_holds` made by `ImageFiles` (one element each)."""
    calls: list[int] = []
    real = image_files.sealed_file_holds

    def holds(part, data):
        calls.append(1)
        return real(part, data)

    monkeypatch.setattr(image_files, "sealed_file_holds", holds)
    return calls


def test_a_sealed_file_holding_the_image_where_it_belongs_is_compared_once(monkeypatch):
    calls = counting_holds(monkeypatch)
    content = image_bytes(3)
    image = Image(0, content)
    with image_memfd(content) as fd, region(3, fd=fd) as base:
        [part] = file_parts(base, 3)
        assert (part.addr, part.length, part.offset) == (base, 3 * PAGE, 0)
        assert (part.dev, part.inode) == (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        files, slot = ImageFiles(), model_slot(image)
        assert files.vouches(part, slot, 0)
        assert files.vouches(part, slot, 0)
    assert len(calls) == 1


def test_nothing_else_is_vouched_for():
    content = image_bytes(3)
    image = Image(0, content)
    with image_memfd(content) as fd, region(3, fd=fd) as base:
        [part] = file_parts(base, 3)
        assert not ImageFiles().vouches(part, model_slot(Image(PAGE, image_bytes(3))), 0)  # outside
        written = model_slot(image)
        written.write(PAGE, b"x")  # the model expects a private page there, not the image's
        assert not ImageFiles().vouches(part, written, 0)
        other = Image(0, content[:-1] + b"!")  # a file that does not hold the model's bytes
        assert not ImageFiles().vouches(part, model_slot(other), 0)
    with image_memfd(content) as fd, region(4) as base:
        map_file_at(base + PAGE, 2, fd)  # file offset 0 at linear PAGE: shifted by a page
        [part] = file_parts(base, 4)
        assert (part.addr, part.offset) == (base + PAGE, 0)
        files = ImageFiles()
        assert files.holds(part, image) and not files.vouches(part, model_slot(image), PAGE)
    unsealed = os.memfd_create("wasm-memory-image", os.MFD_CLOEXEC)
    try:
        os.write(unsealed, content)
        with region(3, fd=unsealed) as base:
            [part] = file_parts(base, 3)
            assert not ImageFiles().vouches(part, model_slot(image), 0)  # its bytes may change
    finally:
        os.close(unsealed)


def test_the_file_is_read_in_chunks_and_compared_whole():
    content = bytes(range(256)) * (5 * (1 << 20) // 256) + b"\1" * PAGE  # 5 MiB and a page
    with image_memfd(content) as fd, region(len(content) // PAGE, fd=fd) as base:
        [part] = file_parts(base, len(content) // PAGE)
        assert observers.sealed_file_holds(part, content)
        assert not observers.sealed_file_holds(part, content[:-1] + b"\2")  # the last chunk
        assert not observers.sealed_file_holds(part, b"\7" + content[1:])  # the first
        assert not observers.sealed_file_holds(part, content + b"\0")  # past the file's end


IMAGE_LIVE = """\
version 1
pool memories=2 max-memory=1MiB
module m min=1 max=1 data=0:"hello"
instantiate a m
size a => 1
size a => 1
size a => 1
"""


def test_a_checked_run_compares_each_image_file_once_and_reads_it_no_more(monkeypatch):
    calls = counting_holds(monkeypatch)
    reads: list[int] = []
    real_read = observers._read_file
    monkeypatch.setattr(observers, "_read_file", lambda *args: reads.append(1) or real_read(*args))
    outcome = run(parse(IMAGE_LIVE), make_target("reference"), full_every=1)
    assert outcome.passed
    assert (len(calls), len(reads)) == (1, 0)


def _writes_a_wrong_byte(original):
    """An image memfd written with its second byte changed (the module's bytes stay right)."""

    def write_file(self, fd, data):
        return original(self, fd, data[:1] + bytes([data[1] ^ 0x20]) + data[2:])

    return write_file


def test_an_image_file_that_differs_from_the_model_is_still_caught():
    with replaced(VirtualMemory, "write_file", _writes_a_wrong_byte):
        outcome = run(parse(IMAGE_LIVE), make_target("reference"), full_every=1000)
    divergence = outcome.divergence
    assert divergence is not None and divergence.observable == "contents"
    assert (divergence.expected[:4], divergence.observed[:4]) == (b"ello", b"Ello")
    assert "instance a, offset 0x1" in divergence.detail

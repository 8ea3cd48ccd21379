"""The slot model's page codes, kept up to date by every change of a page, agree with its page
sets, and `peek` (built from the image and the private pages) agrees with page-by-page bytes."""

import random

from harness.model import ABSENT, FILE, PRIVATE, ZERO, Image, SlotModel
from harness.model.slot import OS_PAGE, pages_of


def random_walk(seed: int) -> SlotModel:
    """A slot through a random mix of everything that changes its pages, checked after each."""
    rng = random.Random(seed)
    slot = SlotModel(0)
    images = [Image(2 * OS_PAGE, bytes([7]) * 3 * OS_PAGE), Image(0, bytes(range(256)) * 16), None]
    for _ in range(200):
        action = rng.randrange(7)
        offset, length = rng.randrange(0, 12 * OS_PAGE), rng.randrange(0, 3 * OS_PAGE)
        if action == 0:
            image = rng.choice(images)
            slot.replace_image(image, None if image is None else f"m{images.index(image)}")
        elif action == 1:
            slot.write(offset, bytes([rng.randrange(256)]) * length)
        elif action == 2:
            slot.read(offset, length)
        elif action == 3:
            slot.touch(offset, length)
        elif action == 4:
            start = rng.randrange(0, 10) * OS_PAGE
            slot.decommit(start, start + rng.randrange(0, 6) * OS_PAGE)
        elif action == 5:
            start = rng.randrange(0, 10) * OS_PAGE
            slot.memset_pristine(start, start + rng.randrange(0, 4) * OS_PAGE)
        elif rng.random() < 0.2:
            slot.remap_all()
        slot.check()
        assert_peek_matches_pages(slot, offset, length)
    return slot


def assert_peek_matches_pages(slot: SlotModel, offset: int, length: int) -> None:
    pages = pages_of(offset, length)
    whole = b"".join(slot.page_bytes(p) for p in pages)
    start = offset - offset // OS_PAGE * OS_PAGE
    assert slot.peek(offset, length) == whole[start : start + length]


def test_codes_follow_every_change_of_a_page() -> None:
    for seed in range(20):
        random_walk(seed)


def test_codes_name_each_state() -> None:
    slot = SlotModel(0)
    slot.replace_image(Image(OS_PAGE, bytes([1]) * OS_PAGE), "m")
    slot.read(2 * OS_PAGE, 1)
    slot.write(3 * OS_PAGE, b"x")
    assert slot.codes(range(5)) == b"afzpa"
    assert [slot.state(p) for p in range(5)] == [ABSENT, FILE, ZERO, PRIVATE, ABSENT]
    assert slot.codes(range(3, 7)) == b"paaa"  # past the last known page: absent

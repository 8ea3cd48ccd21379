"""`decode`: every byte string is a valid program, always the same one, and a one-byte change
keeps the pool and the ops decoded before it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import validate
from harness.engines.atheris_engine import MAX_OPS, decode
from harness.generate import ByteChoices, pool_spec
from harness.text import format_program, parse

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=300)


def pool_bytes() -> int:
    """How many leading bytes the pool reads (the same for every input)."""
    choices = ByteChoices(b"")
    pool_spec(choices)
    return choices.pos


POOL_BYTES = pool_bytes()


@DETERMINISTIC
@given(st.binary(max_size=800))
def test_every_byte_string_decodes_to_a_valid_program_deterministically(data: bytes) -> None:
    program = decode(data)
    validate.check(program)
    assert decode(data) == program
    assert len(program.statements) <= MAX_OPS
    assert parse(format_program(program)) == program  # it can be saved as an .ops file


@DETERMINISTIC
@given(st.binary(min_size=POOL_BYTES + 1, max_size=400), st.data())
def test_a_one_byte_change_alters_a_suffix_not_the_pool(data: bytes, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(POOL_BYTES, len(data) - 1), label="index")
    byte = draw.draw(st.integers(0, 255), label="byte")
    changed = data[:index] + bytes([byte]) + data[index + 1 :]
    before, after = decode(data), decode(changed)
    assert after.pool == before.pool
    # The ops decoded from the bytes before `index` (all but the last, which may read past it).
    untouched = max(len(decode(data[:index]).statements) - 1, 0)
    assert after.statements[:untouched] == before.statements[:untouched]


def test_short_inputs_still_give_a_pool() -> None:
    for data in (b"", b"\x00", bytes(POOL_BYTES)):
        program = decode(data)
        validate.check(program)
        assert program.pool is not None and program.statements == ()


def test_max_ops_bounds_the_program() -> None:
    data = bytes(range(256)) * 8
    assert len(decode(data, max_ops=5).statements) == 5
    assert decode(data, max_ops=5).statements == decode(data).statements[:5]

"""Every statement of docs/ops-format.md with its operands and `=> RESULT`; the spec's example."""

from __future__ import annotations

import pytest

from harness import text
from harness.ops import (
    Data,
    Deallocate,
    Drop,
    Error,
    Expect,
    Faults,
    Grow,
    Instantiate,
    ModuleDecl,
    Number,
    PoolSpec,
    Program,
    Read,
    Segment,
    SharedDecl,
    SharedGrow,
    SharedSize,
    Size,
    Slot,
    Touch,
    Write,
)

from .helpers import HEADER, PRELUDE, last, statements

SHARED = "shared s min=1 max=4\n"


@pytest.mark.parametrize(
    "statement, op",
    [
        ("module a min=1", ModuleDecl("a", 1)),
        ("module a min=0 max=0", ModuleDecl("a", 0, 0)),
        ("module a max=4 min=1 shared", ModuleDecl("a", 1, 4, shared=True)),
        (
            'module a min=2 data=0x10:"hi" data=0:hex:00ff data=1p:fill:1*2',
            ModuleDecl("a", 2, None, False, (Segment(16, b"hi"), Segment(0, b"\0\xff"),
                                                  Segment(65536, b"\1\1"))),
        ),
        ("module a min=1 shared => error shared-unsupported",
         ModuleDecl("a", 1, shared=True, result=Error("shared-unsupported"))),
        ("module a min=9 => error too-large", ModuleDecl("a", 9, result=Error("too-large"))),
        ("instantiate i2 m", Instantiate("i2", "m")),
        ("instantiate i2 m => slot 3", Instantiate("i2", "m", Slot(3))),
        ("instantiate i2 m => error pool-exhausted",
         Instantiate("i2", "m", Error("pool-exhausted"))),
        ('write i1 0 "x"', Write("i1", 0, b"x")),
        ("write i1 2p hex:01 => error out-of-bounds",
         Write("i1", 131072, b"\1", Error("out-of-bounds"))),
        ("read i1 0x10 5", Read("i1", 16, 5)),
        ('read i1 0 2 => "ab"', Read("i1", 0, 2, Data(b"ab"))),
        ("read i1 0 3 => hex:000102", Read("i1", 0, 3, Data(b"\0\1\2"))),
        ("read i1 2p 1 => error out-of-bounds", Read("i1", 131072, 1, Error("out-of-bounds"))),
        ("touch i1 0 64KiB => faults 16", Touch("i1", 0, 65536, Faults(16))),
        ("touch i1 0 1", Touch("i1", 0, 1)),
        ("grow i1 1 => 2", Grow("i1", 1, Number(2))),
        ("grow i1 9 => -1", Grow("i1", 9, Number(-1))),
        ("grow i1 0x10", Grow("i1", 16)),
        ("size i1 => 2", Size("i1", Number(2))),
        ("size i1", Size("i1")),
        ("deallocate i1", Deallocate("i1")),
        ("drop m", Drop("m")),
        ("expect slot i1 == 0", Expect("slot", ("i1",), 0)),
        ("expect size i1 == 2", Expect("size", ("i1",), 2)),
        ("expect accessible i1 == 128KiB", Expect("accessible", ("i1",), 131072)),
        ("expect resident i1 0 1p == 16", Expect("resident", ("i1", 0, 65536), 16)),
        ("expect zero i1 0 16 == true", Expect("zero", ("i1", 0, 16), True)),
        ("expect memfds == 0", Expect("memfds", (), 0)),
        ("expect image-mappings m == 1", Expect("image-mappings", ("m",), 1)),
    ],
)
def test_statement(statement: str, op: object) -> None:
    assert last(statement) == op


@pytest.mark.parametrize(
    "statement, op",
    [
        ("shared t min=1 max=2", SharedDecl("t", 1, 2)),
        ("shared t max=2 min=0", SharedDecl("t", 0, 2)),
        ("shared-grow s 1 => 1", SharedGrow("s", 1, Number(1))),
        ("shared-grow s 9 => -1", SharedGrow("s", 9, Number(-1))),
        ("shared-size s => 1", SharedSize("s", Number(1))),
        ("shared-size s", SharedSize("s")),
    ],
)
def test_shared_memory_statements(statement: str, op: object) -> None:
    assert statements(SHARED + statement)[-1] == op


def test_pool_keys_and_given_order() -> None:
    source = (
        "pool seed=7 memories=0x10 max-memory=1MiB keep-resident=64KiB guard=2p style=dynamic "
        "strategy=random warm-slots=3 decommit-batch=4 growth=memfd reservation=2MiB\n"
    )
    pool = text.parse(HEADER + source).pool
    assert pool == PoolSpec(
        memories=16, max_memory=1 << 20, keep_resident=65536, guard=131072, style="dynamic",
        strategy="random", seed=7, warm_slots=3, decommit_batch=4, growth="memfd",
        reservation=2 << 20,
    )
    assert pool.given[:3] == ("seed", "memories", "max-memory")


def test_no_pool_and_empty_pool_differ() -> None:
    assert text.parse(HEADER).pool is None
    empty = text.parse(HEADER + "pool\n").pool
    assert empty == PoolSpec() and empty.given == ()
    assert text.format_program(Program(pool=empty)) == "version 1\npool\n"


def test_instance_name_is_reused_after_deallocate_or_failed_instantiate() -> None:
    ops = statements(
        "pool memories=1\nmodule a min=1\ninstantiate i1 a\n"
        "instantiate i2 a => error pool-exhausted\n"
        "deallocate i1\ninstantiate i2 a => slot 0\ndeallocate i2\ninstantiate i1 a\n"
    )
    assert ops[-1] == Instantiate("i1", "a")


SPEC_EXAMPLE = """\
version 1
pool memories=2 max-memory=1MiB keep-resident=64KiB style=dynamic strategy=reuse-affinity
module a min=1 max=4 data=0x10:"hello"
instantiate i1 a => slot 0
write i1 0 fill:0xcc*4096
grow i1 2 => 1
deallocate i1
instantiate i1 a => slot 0
read i1 0x10 5 => "hello"
expect zero i1 0 16 == true
expect size i1 == 1
deallocate i1
drop a
expect memfds == 0
"""


def test_the_spec_example() -> None:
    program = text.parse(SPEC_EXAMPLE, "example.ops")
    assert program == Program(
        pool=PoolSpec(memories=2, max_memory=1 << 20, keep_resident=65536, style="dynamic",
                      strategy="reuse-affinity"),
        statements=(
            ModuleDecl("a", 1, 4, data=(Segment(0x10, b"hello"),)),
            Instantiate("i1", "a", Slot(0)),
            Write("i1", 0, b"\xcc" * 4096),
            Grow("i1", 2, Number(1)),
            Deallocate("i1"),
            Instantiate("i1", "a", Slot(0)),
            Read("i1", 0x10, 5, Data(b"hello")),
            Expect("zero", ("i1", 0, 16), True),
            Expect("size", ("i1",), 1),
            Deallocate("i1"),
            Drop("a"),
            Expect("memfds", (), 0),
        ),
    )
    assert program.pool.given == ("memories", "max-memory", "keep-resident", "style", "strategy")
    assert [op.line for op in program.statements] == list(range(3, 15))
    assert isinstance(program.statements[7].value, bool)


def test_the_spec_example_in_canonical_form() -> None:
    assert text.format_program(text.parse(SPEC_EXAMPLE)) == SPEC_EXAMPLE.replace(
        "keep-resident=64KiB", "keep-resident=1p"
    ).replace("0x10", "16")


def test_prelude_is_what_the_tests_assume() -> None:
    assert statements(PRELUDE) == (ModuleDecl("m", 2), Instantiate("i1", "m"))

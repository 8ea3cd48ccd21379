"""Static misuse (validate.check): names, kinds, lifetimes, impossible numbers, unfit results."""

from __future__ import annotations

import pytest

from harness import validate
from harness.errors import InvalidProgram
from harness import ops
from harness.ops import PoolSpec, Program

from .helpers import HEADER, PRELUDE, assert_fails, statements


MISUSE = [
    # (name, body after `version 1`, line, column, fragment)
    ("duplicate module",
     "module a min=1\nmodule a min=1\n", 3, 8, "already the name of a module (line 2)"),
    ("module named like an instance",
     PRELUDE + "module i1 min=1\n", 4, 8, "already the name of an instance"),
    ("instance named like a module",
     PRELUDE + "instantiate m m\n", 4, 13, "already the name of a module"),
    ("live instance name reused",
     PRELUDE + "instantiate i1 m\n", 4, 13, "already the name of an instance"),
    ("deallocated module name reused",
     PRELUDE + "deallocate i1\nmodule i1 min=1\n", 5, 8, "already"),
    ("refused module name reused",
     "module a min=1 => error too-large\nmodule a min=1\n", 3, 8, "already"),
    ("use after deallocate",
     PRELUDE + "deallocate i1\nread i1 0 1\n", 5, 6, "deallocated at line 4"),
    ("expect after deallocate",
     PRELUDE + "deallocate i1\nexpect size i1 == 1\n", 5, 13, "deallocated"),
    ("deallocate twice",
     PRELUDE + "deallocate i1\ndeallocate i1\n", 5, 12, "deallocated at line 4"),
    ("refused module used",
     "module a min=1 shared => error shared-unsupported\ninstantiate i a\n",
     3, 15, "refused at line 2"),
    ("failed instance used",
     PRELUDE + "instantiate i2 m => error pool-exhausted\nsize i2\n", 5, 6, "never created"),
    ("dropped module instantiated",
     "module a min=1\ndrop a\ninstantiate i a\n", 4, 15, "dropped at line 3"),
    ("dropped twice", "module a min=1\ndrop a\ndrop a\n", 4, 6, "dropped at line 3"),
    ("instance op on module", PRELUDE + "size m\n", 4, 6, "`m` is a module, not an instance"),
    ("instance op on shared",
     "shared s min=1 max=1\nsize s\n", 3, 6, "use shared-grow/shared-size"),
    ("shared op on instance", PRELUDE + "shared-size i1\n", 4, 13, "use grow/size"),
    ("drop an instance", PRELUDE + "drop i1\n", 4, 6, "not a module"),
    ("did you mean a name",
     "module alpha min=1\ninstantiate i1 alpah\n", 3, 16, "did you mean `alpha`?"),
    ("min > max", "module a min=3 max=2\n", 2, 10, "min=3 is more than max=2"),
    ("max > 65536", "module a min=1 max=65537\n", 2, 16, "0 to 65536 pages"),
    ("segment past min",
     'module a min=1 data=0xfffe:"abc"\n', 2, 16, "ends at byte 65537, past min=1"),
    ("second segment past min",
     'module a min=0 data=0:"" data=0:"a"\n', 2, 26, "segment 1 ends at byte 1"),
    ("shared min > max", "shared s min=2 max=1\n", 2, 10, "more than max=1"),
    ("shared max 33 bits", "shared s min=0 max=0x100000000\n", 2, 16, "32-bit"),
    ("shared-grow negative",
     "shared s min=0 max=1\nshared-grow s -3\n", 3, 15, "delta -3 is impossible"),
    ("grow too large", PRELUDE + "grow i1 0x100000000\n", 4, 9, "unsigned 32-bit"),
    ("offset beyond 4 GiB", PRELUDE + "write i1 4GiB \"x\"\n", 4, 10, "offset 4294967296"),
    ("faults on grow",
     PRELUDE + "grow i1 1 => faults 1\n", 4, 14, "`grow` cannot end in `=> faults 1`"),
    ("text on size", PRELUDE + 'size i1 => "x"\n', 4, 12, "`size` cannot end in a byte literal"),
    ("slot on read",
     PRELUDE + "read i1 0 1 => slot 0\n",
     4, 16, "its result is a byte literal or `error out-of-bounds`"),
    ("number on deallocate", PRELUDE + "deallocate i1 => 0\n", 4, 18, "it has no result"),
    ("error on grow", PRELUDE + "grow i1 99 => error too-large\n", 4, 15, "its result is a number"),
    ("pool-exhausted on module",
     "module a min=1 => error pool-exhausted\n", 2, 19, "cannot end in"),
    ("unknown error kind",
     PRELUDE + "read i1 0 1 => error oob\n", 4, 16, "unknown error kind `oob`"),
    ("grow result < -1", PRELUDE + "grow i1 1 => -2\n", 4, 14, "`=>` -2 is impossible"),
    ("size result > 65536", PRELUDE + "size i1 => 65537\n", 4, 12, "is impossible"),
    ("slot beyond pool",
     "pool memories=2\nmodule a min=1\ninstantiate i a => slot 2\n",
     4, 20, "slot 2 is impossible: the pool has 2 slots"),
    ("faults beyond pages",
     PRELUDE + "touch i1 4095 2 => faults 3\n", 4, 20, "overlaps 2 OS pages"),
    ("read result length",
     PRELUDE + 'read i1 0 3 => "ab"\n', 4, 16, "`read` of 3 bytes cannot give a 2-byte result"),
    ("unknown observable",
     PRELUDE + "expect resdent i1 0 1 == 1\n", 4, 8, "did you mean `resident`?"),
    ("observable arity",
     PRELUDE + "expect resident i1 0 == 1\n", 4, 8, "takes I N N; found 2 arguments"),
    ("observable arg kind", PRELUDE + "expect size 3 == 1\n", 4, 13, "no instance named `3`"),
    ("observable wants a module",
     PRELUDE + "expect image-mappings i1 == 0\n", 4, 23, "not a module"),
    ("bool observable", PRELUDE + "expect zero i1 0 1 == 1\n", 4, 23, "`true` or `false`"),
    ("int observable", PRELUDE + "expect slot i1 == false\n", 4, 19, "a number, not `false`"),
    ("negative observable", PRELUDE + "expect memfds == -1\n", 4, 18, "value -1 is impossible"),
    ("refused module in expect",
     "module a min=9 => error too-large\nexpect image-mappings a == 0\n", 3, 23, "refused"),
]


@pytest.mark.parametrize(
    "body, line, column, fragment",
    [case[1:] for case in MISUSE],
    ids=[case[0] for case in MISUSE],
)
def test_misuse(body: str, line: int, column: int, fragment: str) -> None:
    assert_fails(HEADER + body, line, column, fragment)


VALID = [
    ("image-mappings of a dropped module",
     "module a min=1\ndrop a\nexpect image-mappings a == 0\n"),
    ("instance outlives its module", PRELUDE + "drop m\nsize i1\ndeallocate i1\n"),
    ("instance name reused", PRELUDE + "deallocate i1\ninstantiate i1 m\n"),
    ("failed instantiate binds nothing",
     PRELUDE + "instantiate i2 m => error pool-exhausted\ninstantiate i2 m\n"),
    ("grow beyond max is -1, not an error", PRELUDE + "grow i1 0xffffffff => -1\n"),
    ("too-large module", "module a min=65536 => error too-large\n"),
    ("segment ends at min", 'module a min=1 data=0xfffb:"hello"\n'),
    ("shared max of 32 bits", "shared s min=0 max=0xffffffff\nshared-grow s 0xffffffff => -1\n"),
    ("out-of-bounds near 4 GiB", PRELUDE + "read i1 0xffffffff 4GiB => error out-of-bounds\n"),
    ("faults within pages", PRELUDE + "touch i1 4095 2 => faults 2\n"),
    ("zero-length touch", PRELUDE + "touch i1 0 0 => faults 0\n"),
]


@pytest.mark.parametrize("body", [case[1] for case in VALID], ids=[case[0] for case in VALID])
def test_valid(body: str) -> None:
    assert statements(body)


def _misuse(program: Program) -> InvalidProgram:
    with pytest.raises(InvalidProgram) as caught:
        validate.check(program)
    return caught.value


def test_generated_program_errors_name_the_statement() -> None:
    error = _misuse(Program((ops.ModuleDecl("a", 1), ops.Grow("nobody", 1))))
    assert (error.source, error.line, error.column) == ("<program>", 0, 0)
    assert error.reason.startswith("statement 2 (grow): no instance named `nobody`")


def test_check_uses_statement_lines_without_a_locator() -> None:
    error = _misuse(Program((ops.Size("x", line=7),), source="f.ops"))
    assert str(error).startswith("f.ops:7:1: no instance named `x`")


@pytest.mark.parametrize(
    "pool, fragment",
    [
        (PoolSpec(style="fast"), "style=fast is not one of static, dynamic"),
        (PoolSpec(strategy="ranodm"), "did you mean `random`?"),
        (PoolSpec(memories=10**7), "memories 10000000 is impossible"),
        (PoolSpec(guard=-1), "guard -1 is impossible"),
        (PoolSpec(reservation=1 << 34), "reservation"),
        (PoolSpec(seed=1 << 64), "seed"),
        (PoolSpec(memories=True), "whole number"),
    ],
)
def test_pool_values(pool: PoolSpec, fragment: str) -> None:
    assert fragment in _misuse(Program(pool=pool)).reason


@pytest.mark.parametrize(
    "op, fragment",
    [
        (ops.Write("i", 0, bytes(range(256)) * (validate.MAX_INLINE_BYTES // 256 + 1)), "split it"),
        (ops.Read("i", 0, 1, ops.Data("x")), "must be bytes"),  # type: ignore[arg-type]
        (ops.Instantiate("j", "a", ops.Faults(1)), "cannot end in `=> faults 1`"),
        (ops.Expect("zero", ("i", 0, 1), 1), "`true` or `false`"),
    ],
)
def test_literal_limits_and_types(op: ops.Op, fragment: str) -> None:
    program = Program((ops.ModuleDecl("a", 1), ops.Instantiate("i", "a"), op))
    assert fragment in _misuse(program).reason


def test_literal_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_LITERAL", 1000)
    program = Program((ops.ModuleDecl("a", 1, data=(ops.Segment(0, b"\0" * 1001),)),))
    assert "a 1001-byte literal is over the 1000 limit" in _misuse(program).reason


def test_literal_total_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_PROGRAM_LITERALS", 1 << 20)
    writes = tuple(ops.Write("i", 0, b"\0" * 300_000) for _ in range(4))
    program = Program((ops.ModuleDecl("a", 1), ops.Instantiate("i", "a"), *writes))
    assert "literals total over" in _misuse(program).reason


def test_too_many_segments() -> None:
    segments = tuple(ops.Segment(0, b"") for _ in range(validate.MAX_SEGMENTS + 1))
    assert "data segments" in _misuse(Program((ops.ModuleDecl("a", 1, data=segments),))).reason


def test_wrong_version() -> None:
    assert "unsupported version 2" in _misuse(Program(version=2)).reason


def test_error_result_is_recognised() -> None:
    refused = ops.ModuleDecl("a", 1, shared=True, result=ops.Error("shared-unsupported"))
    validate.check(Program((refused,)))

"""The minimizer: predicate-driven, keeps programs valid, memoizes by text."""

from harness.minimize import Minimizer, minimize
from harness.text import format_program, parse

PROGRAM = """version 1
pool memories=4 max-memory=1MiB
module a min=1
module b min=1
instantiate i1 a
instantiate i2 b
write i2 0 "x"
write i1 0 "bug"
size i2
read i1 0 3
"""


def reads_bug(program) -> bool:
    """A stand-in failure: the program still writes "bug" and reads it back."""
    text = format_program(program)
    return 'write i1 0 "bug"' in text and "read i1 0 3" in text


def test_minimize_drops_everything_unrelated_and_keeps_the_program_valid() -> None:
    small = minimize(parse(PROGRAM), reads_bug)
    assert format_program(small).splitlines()[2:] == [
        "module a min=1",
        "instantiate i1 a",
        'write i1 0 "bug"',
        "read i1 0 3",
    ]


def test_removing_a_declaration_removes_its_uses() -> None:
    # Dropping `module b` must take `instantiate i2 b`, the write to i2 and `size i2` with it.
    small = minimize(parse(PROGRAM), lambda p: "read i1 0 3" in format_program(p))
    assert "i2" not in format_program(small)


def test_each_candidate_is_tried_once() -> None:
    seen: list[str] = []

    def predicate(program) -> bool:
        seen.append(format_program(program))
        return reads_bug(program)

    Minimizer(predicate).run(parse(PROGRAM))
    assert len(seen) == len(set(seen))


def test_a_program_that_does_not_fail_is_returned_unchanged() -> None:
    program = parse(PROGRAM)
    assert minimize(program, lambda p: False) == program


def test_results_the_failure_does_not_need_are_dropped() -> None:
    program = parse("version 1\nmodule a min=1\ninstantiate i1 a => slot 0\nread i1 0 1 => hex:00\n")
    small = minimize(program, lambda p: "read i1 0 1" in format_program(p))
    assert "=> slot 0" not in format_program(small)


def test_no_candidate_is_tried_after_the_deadline() -> None:
    tried: list[str] = []
    now = [100.0]

    def predicate(program) -> bool:
        tried.append(format_program(program))
        now[0] += 1.0  # each candidate takes a second
        return reads_bug(program)

    import harness.minimize as module

    original = module.time.monotonic
    module.time.monotonic = lambda: now[0]
    try:
        small = minimize(parse(PROGRAM), predicate, deadline=103.0)
    finally:
        module.time.monotonic = original
    assert len(tried) == 3  # at 100, 101 and 102; none from 103 on
    assert reads_bug(small)  # the smallest failing program by then (here: none smaller yet)
    assert len(small.statements) >= len(minimize(parse(PROGRAM), reads_bug).statements)
    assert minimize(parse(PROGRAM), predicate, deadline=0.0) == parse(PROGRAM)  # already past: as given

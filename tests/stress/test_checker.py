"""The linearizability checker, its models, histories and timelines, on hand-made histories."""

from __future__ import annotations

import html
import re

from harness.stress import timeline
from harness.stress.history import Operation, Recorder, from_json, to_json
from harness.stress.linearizability import LINEARIZABLE, UNKNOWN, VIOLATION, check, check_partition
from harness.stress.models import (
    WASM_PAGE,
    PoolModel,
    RegisterModel,
    SharedMemoryModel,
    Specification,
)

SHARED = SharedMemoryModel(min_pages=1, max_pages=4)


def op(n: int, thread: int, kind: str, args: tuple, result: object, call: int, ret: int,
       obj: str = "shared") -> Operation:
    return Operation(n, thread, obj, kind, args, result, call, ret)


def test_two_concurrent_grows_cannot_both_return_the_same_old_size() -> None:
    history = [op(0, 0, "grow", (1,), 1, 0, 10), op(1, 1, "grow", (1,), 1, 5, 15)]
    result = check_partition("size", history, SHARED)
    assert result.verdict == VIOLATION
    assert [o.id for o in result.longest] == [0]
    assert [o.id for o, _ in result.stuck] == [1]
    assert "no sequential order explains its 2 operations" in result.explain()


def test_overlapping_operations_may_take_effect_in_either_order() -> None:
    history = [
        op(0, 0, "grow", (1,), 2, 0, 10),   # linearized second
        op(1, 1, "grow", (1,), 1, 5, 15),   # linearized first
        op(2, 0, "size", (), 3, 11, 12),
        op(3, 1, "load", (3 * WASM_PAGE - 1,), 0, 16, 17),
    ]
    assert check_partition("size", history, SHARED).verdict == LINEARIZABLE


def test_real_time_order_is_respected() -> None:
    history = [op(0, 0, "grow", (1,), 1, 0, 10), op(1, 1, "size", (), 1, 11, 12)]
    assert check_partition("size", history, SHARED).verdict == VIOLATION


def test_a_fault_within_the_published_size_is_never_linearizable() -> None:
    history = [op(0, 0, "grow", (1,), 1, 0, 10),
               op(1, 1, "load", (2 * WASM_PAGE - 1,), "fault", 5, 6)]
    assert check_partition("size", history, SHARED).verdict == VIOLATION
    history[1] = op(1, 1, "load", (2 * WASM_PAGE - 1,), "oob", 5, 6)
    assert check_partition("size", history, SHARED).verdict == LINEARIZABLE


def test_grow_past_the_maximum_returns_minus_one_and_changes_nothing() -> None:
    history = [op(0, 0, "grow", (4,), -1, 0, 1), op(1, 0, "grow", (3,), 1, 2, 3),
               op(2, 0, "store", (4 * WASM_PAGE - 1, 7), "ok", 4, 5),
               op(3, 1, "load", (4 * WASM_PAGE - 1,), 7, 6, 7)]
    assert check_partition("size", history, SHARED).verdict == LINEARIZABLE


def test_register_reads_the_last_write() -> None:
    model = RegisterModel(bytes(8))
    good = [op(0, 0, "write", (0, b"A" * 8), "ok", 0, 10), op(1, 1, "read", (0,), bytes(8), 2, 3)]
    assert check_partition("cell", good, model).verdict == LINEARIZABLE
    stale = [op(0, 0, "write", (0, b"A" * 8), "ok", 0, 1), op(1, 1, "read", (0,), bytes(8), 2, 3)]
    assert check_partition("cell", stale, model).verdict == VIOLATION


def pool_op(n: int, thread: int, kind: str, args: tuple, result: tuple, call: int,
            ret: int) -> Operation:
    return op(n, thread, kind, args, result, call, ret, obj="pool")


def test_pool_model_rejects_a_slot_held_twice_and_exhaustion_with_free_slots() -> None:
    model = PoolModel(2, "random", exact=False)
    twice = [pool_op(0, 0, "instantiate", ("a", 1), ("slot", 0, True), 0, 1),
             pool_op(1, 1, "instantiate", ("a", 2), ("slot", 0, True), 2, 3)]
    assert check_partition("pool", twice, model).verdict == VIOLATION
    early = [pool_op(0, 0, "instantiate", ("a", 1), ("slot", 0, True), 0, 1),
             pool_op(1, 1, "instantiate", ("a", 2), ("exhausted",), 2, 3)]
    assert check_partition("pool", early, model).verdict == VIOLATION
    racing = [pool_op(0, 0, "instantiate", ("a", 1), ("slot", 0, True), 0, 1),
              pool_op(1, 1, "instantiate", ("a", 2), ("slot", 1, True), 2, 3),
              pool_op(2, 0, "deallocate", ("a", 1, 0), ("ok", True), 4, 8),
              pool_op(3, 1, "instantiate", ("b", 3), ("exhausted",), 5, 6)]
    assert check_partition("pool", racing, model).verdict == LINEARIZABLE


def test_pool_model_picks_the_slot_of_the_strategy() -> None:
    model = PoolModel(3, "reuse-affinity", warm_limit=100)
    history = [pool_op(0, 0, "instantiate", ("a", 1), ("slot", 0, True), 0, 1),
               pool_op(1, 0, "instantiate", ("b", 2), ("slot", 1, True), 2, 3),
               pool_op(2, 0, "deallocate", ("a", 1, 0), ("ok", True), 4, 5),
               pool_op(3, 0, "deallocate", ("b", 2, 1), ("ok", True), 6, 7),
               pool_op(4, 0, "instantiate", ("a", 4), ("slot", 0, True), 8, 9)]
    assert check_partition("pool", history, model).verdict == LINEARIZABLE
    wrong = [*history[:4], pool_op(4, 0, "instantiate", ("a", 4), ("slot", 2, True), 8, 9)]
    assert check_partition("pool", wrong, model).verdict == VIOLATION
    unclean = [*history[:4], pool_op(4, 0, "instantiate", ("a", 4), ("slot", 0, False), 8, 9)]
    assert check_partition("pool", unclean, model).verdict == VIOLATION


def test_histories_are_partitioned_by_object() -> None:
    spec = Specification(PoolModel(1, "next-available"), SHARED)
    history = [op(0, 0, "write", (8, b"B" * 8), "ok", 0, 1), op(1, 0, "read", (0,), bytes(8), 2, 3),
               op(2, 1, "size", (), 1, 0, 1),
               pool_op(3, 1, "instantiate", ("a", 1), ("slot", 0, True), 2, 3)]
    result = check(history, spec)
    assert [p.key for p in result.partitions] == ["pool", "shared:cell@0x0", "shared:cell@0x8",
                                                  "shared:size"]
    assert result.ok and result.verdict == LINEARIZABLE


def test_the_search_gives_up_after_its_budget() -> None:
    history = [op(n, n, "size", (), 1, 0, 100) for n in range(8)]
    assert check_partition("size", history, SHARED, budget=3).verdict == UNKNOWN


def test_recorder_keeps_program_order_and_turns_exceptions_into_results() -> None:
    recorder = Recorder()
    log = recorder.thread(0)
    assert log.record("shared", "size", (), lambda: 3) == 3
    log.record("shared", "grow", (1,), lambda: 1 // 0)
    first, second = recorder.history()
    assert first.ret <= second.call and first.call <= first.ret
    assert second.result == ("raised", "ZeroDivisionError", "integer division or modulo by zero")


def test_history_survives_json() -> None:
    history = [op(0, 0, "write", (0, b"\x00\xff" * 4), "ok", 0, 1),
               pool_op(1, 1, "instantiate", ("a", 1), ("slot", 0, True), 2, 3)]
    assert from_json(to_json(history)) == history


def test_timeline_colours_the_longest_order_and_the_refused_operations() -> None:
    history = [op(0, 0, "grow", (1,), 1, 0, 10), op(1, 1, "grow", (1,), 1, 5, 15)]
    result = check(history, Specification(PoolModel(1), SHARED))
    page = timeline.render(result, "two grows <&>")
    assert "two grows &lt;&amp;&gt;" in page and page.count("<svg") == 1
    assert timeline.ACCEPTED in page and timeline.REFUSED in page
    assert "grow(1) -&gt; 1" in page and "violation" in page


def test_timeline_labels_never_overlap_and_the_table_names_every_operation() -> None:
    history = [op(n, 0, "write", (0, b"A" * 8), "ok", 2 * n, 2 * n + 1) for n in range(12)]
    picture = timeline.draw(history)
    labels = [(float(x), float(y), len(html.unescape(text))) for x, y, text in re.findall(
        r'<text x="([\d.]+)" y="([\d.]+)"[^>]*font-size="9"[^>]*>(write[^<]*)<', picture)]
    assert 2 <= len(labels) < len(history)  # the others would overlap
    for row in {y for _, y, _ in labels}:
        placed = sorted((x, chars) for x, y, chars in labels if y == row)
        assert all(x + timeline.CHAR_WIDTH * chars <= next_x
                   for (x, chars), (next_x, _) in zip(placed, placed[1:]))
    page = timeline.render(check(history, Specification(PoolModel(1), SHARED)), "writes")
    assert page.count("<td>write(") == len(history)

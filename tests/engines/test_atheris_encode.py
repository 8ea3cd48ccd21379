"""`encode`: programs to the bytes `decode` maps back to them — exactly for what the decoder can
express (decoded programs, renamed ones, the expressible corpus files), nearest otherwise — and
the corpus seeds built with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import generate, validate
from harness.engines import atheris_engine
from harness.engines.atheris_encode import EncoderDrift, Inexpressible, encode, encode_nearest
from harness.engines.atheris_engine import decode
from harness.model.predict import with_predicted_results
from harness.ops import Expect, Instantiate, ModuleDecl, Program, SharedDecl
from harness.text import parse, parse_file

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=200)
REGRESSION = sorted((Path(__file__).resolve().parents[2] / "corpora" / "regression").glob("*.ops"))

DECLARES = {ModuleDecl: ("name", "m"), Instantiate: ("instance", "i"), SharedDecl: ("name", "s")}


def renamed(program: Program, name_of: callable) -> Program:
    """`program` with the n-th declared name (1-based, in order) replaced by `name_of(prefix, n)`
    wherever it is used from its declaration on (a name declared again starts a new entity)."""
    names: dict[str, str] = {}
    statements = []
    for op in program.statements:
        fields = {k: getattr(op, k) for k in op.__dataclass_fields__ if k != "line"}
        for key in ("module", "instance", "name"):
            if key in fields and not (type(op) in DECLARES and DECLARES[type(op)][0] == key):
                fields[key] = names.get(fields[key], fields[key])
        if isinstance(op, Expect) and op.args and isinstance(op.args[0], str):
            fields["args"] = (names.get(op.args[0], op.args[0]), *op.args[1:])
        if type(op) in DECLARES:
            key, prefix = DECLARES[type(op)]
            names[fields[key]] = name_of(prefix, len(names) + 1)
            fields[key] = names[getattr(op, key)]
        statements.append(type(op)(**fields))
    return program.with_statements(tuple(statements))


def as_decoded(program: Program) -> Program:
    """What the decoder writes for `program`: its naming (`m1`, `i2`, ... in order of
    declaration, one counter) and every result the model's (which keys a pool gives is not
    part of its equality)."""
    named = renamed(program, lambda prefix, n: f"{prefix}{n}")
    return with_predicted_results(Program(named.statements, pool=program.pool_spec))


@DETERMINISTIC
@given(st.binary(max_size=600))
def test_every_decoded_program_encodes_back_to_itself(data: bytes) -> None:
    program = decode(data)
    assert decode(encode(program)) == program
    assert encode_nearest(program) == (encode(program), [])


@DETERMINISTIC
@given(st.binary(max_size=400), st.sampled_from(["x", "node-", "a_b"]))
def test_names_are_the_decoders_after_the_round_trip(data: bytes, stem: str) -> None:
    program = decode(data)
    mine = renamed(program, lambda prefix, n: f"{stem}{prefix}{n * 7}")
    assert decode(encode(mine)) == program


@pytest.mark.parametrize("path", REGRESSION, ids=lambda p: p.stem)
def test_a_corpus_file_round_trips_exactly_or_says_why_not(path: Path) -> None:
    program = parse_file(path)
    nearest, notes = encode_nearest(program)
    validate.check(decode(nearest))
    try:
        data = encode(program)
    except Inexpressible as err:
        assert notes and err.reason in " ".join(notes) or err.index is None
        return
    assert notes == [] and data == nearest
    assert decode(data) == as_decoded(program)


def test_some_corpus_files_are_expressible() -> None:
    """The test above is not vacuous: the exact round trip is checked on real files too."""
    exact = 0
    for path in REGRESSION:
        try:
            encode(parse_file(path))
            exact += 1
        except Inexpressible:
            pass
    assert exact > 0


EXAMPLE = """version 1
pool memories=2 max-memory=1MiB guard=64KiB
module a min=1 data=0:"hello"
instantiate x a
expect memfds == 1
write x 5 fill:0x07*16
grow x 200
read x 0 5
"""


def test_the_nearest_program_says_what_changed() -> None:
    program = parse(EXAMPLE)
    with pytest.raises(Inexpressible) as raised:
        encode(program)
    assert raised.value.index == 0 and "literal of 5 bytes" in str(raised.value)
    data, notes = encode_nearest(program)
    nearest = decode(data)
    assert [op.kind for op in nearest.statements] == ["module", "instantiate", "write", "grow", "read"]
    assert nearest.statements[0].data[0].data == b"hello\0\0\0"  # 8 arbitrary bytes: the nearest length
    assert nearest.statements[3].delta == 80 and nearest.statements[4].length == 1
    joined = "\n".join(notes)
    for expected in ("literal of 5 bytes", "statement 3 (expect) left out", "grow delta 200", "length 5"):
        assert expected in joined


def test_the_pool_is_nearest_too() -> None:
    program = parse("version 1\npool memories=1000 guard=32MiB keep-resident=40KiB\n")
    with pytest.raises(Inexpressible, match="^pool: memories 1000"):
        encode(program)
    data, notes = encode_nearest(program)
    pool = decode(data).pool
    assert (pool.memories, pool.guard, pool.keep_resident, pool.warm_slots) == (6, 64 * 1024, 64 * 1024, 100)
    assert len(notes) == 4  # memories, max-memory (4 GiB), guard, keep-resident


def test_too_long_programs_are_cut_when_nearest() -> None:
    program = decode(bytes(range(256)) * 8)
    assert len(program.statements) == atheris_engine.MAX_OPS
    with pytest.raises(Inexpressible, match="at most 5 statements"):
        encode(program, max_ops=5)
    data, notes = encode_nearest(program, max_ops=5)
    assert decode(data, max_ops=5) == program.prefix(5) and notes == ["cut after 5 statements"]


def test_a_builder_that_drifted_from_the_encoder_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    program = next(p for p in map(decode, atheris_engine.seed_inputs()) if any(op.kind == "grow" for op in p.statements))
    monkeypatch.setattr(generate.OpBuilder, "grow", lambda self, instance: generate.Grow(instance, 1))
    with pytest.raises(EncoderDrift):
        encode(program)


def test_the_corpus_is_seeded_with_the_encoded_programs(tmp_path: Path) -> None:
    corpora = tmp_path / "corpora"
    (corpora / "regression").mkdir(parents=True)
    for path in REGRESSION[:6]:
        (corpora / "regression" / path.name).write_bytes(path.read_bytes())
    (corpora / "regression" / "broken.ops").write_text("version 1\nnonsense\n")  # left out
    seeds = atheris_engine.corpus_seeds(corpora)
    encoded = [encode_nearest(parse_file(path))[0] for path in REGRESSION[:6]]
    assert seeds == encoded + atheris_engine.seed_inputs()
    assert len({decode(seed).pool for seed in encoded}) > 1  # the files' own pools, not one
    corpus = atheris_engine.prepare_corpus(tmp_path / "corpus", corpora)
    assert sorted(p.read_bytes() for p in corpus.iterdir()) == sorted(set(seeds))

"""The fixed part of a standalone Wasmtime reproducer: helper functions, as Python source text.

`HELPERS` lists every helper a generated script may hold, in the order they are written;
`needed(body)` picks those the script's `main()` uses, directly or through other helpers. Each
helper is plain Python that imports nothing but the standard library and `wasmtime`, and refers
to the script's constants (`FOUND_WITH`, `CONFIG`, `POOLING`, `OPTIONAL`, `POOL_BYTES`, `PRE_GUARD`,
`STRIDE`, `SLOT_BYTES`, `MODULE_REFUSALS`, `INSTANTIATE_REFUSALS`), which `harness.wasmtime_script`
writes from the finding.

What each one mirrors (so that the script does what `harness.targets.wasmtime_target` and the
executor did, with nothing of poolfuzz):

* `Pool`, `pooling_engine`: `harness.wasmtime_pool.new_config` and the pool location of
  `open_pool` (a new mapping of exactly `POOL_BYTES`, found by diffing `/proc/self/maps`);
* `compile_module`, `instantiate`, `Instance`, `read`, `write`, `out_of_bounds`, `grow`, `size`,
  `SharedMemory`: the target's statement handlers, a Wasmtime error becoming a string (the
  `error KIND` of the `.ops` results, or `raised ...`) instead of an exception;
* `touch`: `harness.observers.touch`, with `madvise(MADV_POPULATE_WRITE)` in place of the
  `lock orb $0` loop, between two `getrusage(RUSAGE_THREAD)` into preallocated structs, the
  same three calls made once on an empty range first so that nothing between the readings
  touches a new page of the process (the kernel write-faults each page that is not privately present, exactly
  once, leaving the bytes alone; the counts agree with the loop's, asserted by the tests);
* `in_child`: a step that kills the process (a Rust panic) run in a forked child, whose end
  the script then reports;
* `accessible_bytes`, `page_state`, `resident_pages`, `is_zero`, `memfd_count`, `image_inode`,
  `mappings_of_inode`: the observers of the same names (simplified where Wasmtime's mappings
  allow: no image mapping extends past its memfd's end).
"""

from __future__ import annotations

import io
import textwrap
import tokenize

PRELUDE = '''\
PAGE = 4096  # the OS page size this reproducer is written for
WASM_PAGE = 65536


def inconclusive(reason):
    """Exit 2: the script cannot get to the step that shows the behaviour."""
    print(f"inconclusive: {reason}")
    sys.exit(2)


def check_platform():
    """Linux with 4 KiB pages; a note if the installed wasmtime is not the one of the finding."""
    installed = metadata.version("wasmtime")
    if installed != FOUND_WITH:
        print(f"note: found with wasmtime {FOUND_WITH}; running wasmtime {installed}")
    if not sys.platform.startswith("linux") or os.sysconf("SC_PAGE_SIZE") != PAGE:
        inconclusive("this reproducer reads Linux's /proc and needs 4 KiB pages")


def check(step, what, observed, expected):
    """A step before the divergence must do what it did when the behaviour was found."""
    if observed != expected:
        inconclusive(f"step {step} ({what}) gave {observed!r}, not {expected!r} as when the "
                     "behaviour was found: the steps leading to it no longer apply")


def verdict(step, what, observed, expected, also_expected=()):
    """The diverging step: prints expected and observed; 1 if they differ, else 0."""
    print(f"step {step}: {what}")
    print(f"  expected: {expected!r}")
    print(f"  observed: {observed!r}")
    if observed == expected or observed in also_expected:
        print("not reproduced: Wasmtime now does what is expected")
        return 0
    print("reproduced")
    return 1


def failure(result):
    """The failure a step's result describes (a string), or None for any other result."""
    return result if isinstance(result, str) else None


def refusal(err, kinds):
    """`error KIND` if Wasmtime's message matches one of `kinds` ((pattern, kind) pairs), else
    what was raised, on one line."""
    text = str(err)
    for pattern, kind in kinds:
        if re.search(pattern, text):
            return f"error {kind}"
    first = next((line for line in text.splitlines() if line.strip()), "")
    return f"raised {type(err).__name__}: {first}"
'''

LIBC = '''\
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
LIBC.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def disable_thp():
    """No transparent huge pages in this process (one fault would map 512 pages)."""
    PR_SET_THP_DISABLE = 41
    LIBC.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)


def page_span(address, length):
    """`(start, length)` of the OS pages overlapping `[address, address + length)`."""
    start = address - address % PAGE
    end = -(-(address + length) // PAGE) * PAGE
    return start, end - start
'''

POOL = '''\
# Wasmtime's C API, on the libwasmtime the wasmtime package loaded (wasmtime-py has no API for
# the pooling allocator). Every setter returns void; `config.ptr()` is the `wasm_config_t *`.
LIB = ctypes.CDLL(wasmtime._ffi.dll._name)


def c_function(name, restype, *argtypes):
    """The C function `name` of libwasmtime, typed (exit 2 if this release lacks it)."""
    try:
        function = getattr(LIB, name)
    except AttributeError:
        inconclusive(f"wasmtime {metadata.version('wasmtime')} has no C function {name}")
    function.restype, function.argtypes = restype, list(argtypes)
    return function


def pooling_engine():
    """A wasmtime.Engine whose instances take their linear memories from a pool (CONFIG, POOLING)."""
    config = wasmtime.Config()
    for name, ctype, value in CONFIG:
        if name not in OPTIONAL or hasattr(LIB, f"wasmtime_config_{name}_set"):
            c_function(f"wasmtime_config_{name}_set", None, VOID_P, ctype)(config.ptr(), value)
    pooling = c_function("wasmtime_pooling_allocation_config_new", VOID_P)()
    for name, ctype, value in POOLING:
        if name not in OPTIONAL or hasattr(LIB, f"wasmtime_pooling_allocation_config_{name}_set"):
            c_function(f"wasmtime_pooling_allocation_config_{name}_set", None, VOID_P, ctype)(pooling, value)
    c_function("wasmtime_pooling_allocation_strategy_set", None, VOID_P, VOID_P)(config.ptr(), pooling)
    c_function("wasmtime_pooling_allocation_config_delete", None, VOID_P)(pooling)  # the config has a copy
    return wasmtime.Engine(config)


def mapped_ranges():
    """`(start, end)` of every mapping of this process."""
    with open("/proc/self/maps") as maps:
        return {tuple(int(part, 16) for part in line.split()[0].split("-")) for line in maps}


class Pool:
    """The engine, and where its memory pool lies: Wasmtime reserves the pool with one mmap of
    POOL_BYTES when the engine is built; slot i's memory starts PRE_GUARD + i * STRIDE bytes in."""

    def __init__(self):
        before = mapped_ranges()
        self.engine = pooling_engine()
        fresh = [start for start, end in mapped_ranges() - before if end - start == POOL_BYTES]
        self.start = fresh[0] if len(fresh) == 1 else None

    def slot_of(self, memory):
        """The slot index of an Instance's memory (a failed instantiation: its failure)."""
        if isinstance(memory, str):
            return memory
        if self.start is None:
            inconclusive(f"no new mapping of exactly {POOL_BYTES:#x} bytes: cannot number slots")
        offset = memory.base - self.start - PRE_GUARD
        if offset < 0 or offset % STRIDE:
            return f"base {memory.base:#x} is not a slot base"
        return offset // STRIDE
'''

MODULES = '''\
def compile_module(engine, wat):
    """The wasmtime.Module, else its failure: `error too-large` / `error shared-unsupported`
    when Wasmtime refuses it for this pool (MODULE_REFUSALS), or what was raised."""
    try:
        return wasmtime.Module(engine, wasmtime.wat2wasm(wat))
    except wasmtime.WasmtimeError as err:
        return refusal(err, MODULE_REFUSALS)
'''

INSTANCE = '''\
class Instance:
    """An instance of `module` in a Store of its own: closing the Store is the only way to free an
    instance, and gives its memory's slot back to the pool."""

    limit = SLOT_BYTES  # the most the memory can grow to in its slot

    def __init__(self, engine, module):
        self.store = wasmtime.Store(engine)
        self.exports = wasmtime.Instance(self.store, module, []).exports(self.store)
        self.memory = self.exports["memory"]

    @property
    def base(self):
        """Address of byte 0 of the linear memory."""
        return ctypes.cast(self.memory.data_ptr(self.store), ctypes.c_void_p).value

    @property
    def size(self):
        """Bytes of the linear memory, as the host sees them."""
        return self.memory.data_len(self.store)

    def call(self, name, *args):
        """Calls an exported accessor (load8, store8, grow, size) with i32 arguments."""
        return self.exports[name](self.store, *args)

    def close(self):
        self.store.close()


def instantiate(engine, module):
    """A new Instance, else its failure: `error pool-exhausted` when every slot is taken, or
    what was raised."""
    try:
        return Instance(engine, module)
    except wasmtime.WasmtimeError as err:
        return refusal(err, INSTANTIATE_REFUSALS)
    except wasmtime.Trap as trap:  # a data segment that does not fit
        outcome = refusal(trap, ())
        trap.close()  # now: its backtrace keeps the module alive (and so its image and slots)
        return outcome


def i32(value):
    """`value` (an unsigned 32-bit address or delta) as the signed i32 the API passes."""
    return value - (1 << 32) if value >= 1 << 31 else value
'''

ACCESSES = '''\
def write(instance, offset, data):
    """Stores `data` through the host's view of the memory, bounds-checked against its size;
    Wasm's load8 must then see the first byte written."""
    if offset + len(data) > instance.size:
        return out_of_bounds(instance, offset)
    ctypes.memmove(instance.base + offset, data, len(data))
    return cross_check(instance, offset, data[:1])


def read(instance, offset, length):
    """The bytes at `offset`, bounds-checked; Wasm's load8 must see the first one too."""
    if offset + length > instance.size:
        return out_of_bounds(instance, offset)
    data = ctypes.string_at(instance.base + offset, length)
    return cross_check(instance, offset, data[:1]) or data


def cross_check(instance, offset, first):
    """None if Wasm's load8 of byte `offset` sees `first` (or `first` is empty), else what it saw."""
    if not first:
        return None
    seen = call_or_trap(instance, "load8", i32(offset))
    if seen != first[0]:
        return f"the host sees byte {first[0]:#04x} at {offset:#x}, Wasm load8 sees {seen!r}"
    return None


def out_of_bounds(instance, offset):
    """`error out-of-bounds` once Wasm's load8 of the first byte past the memory's end (or of
    `offset`, if further) traps as out of bounds; else what load8 did instead."""
    address = max(offset, instance.size)
    if address >= 1 << 32:
        return "error out-of-bounds"
    seen = call_or_trap(instance, "load8", i32(address))
    if seen == "trap: out of bounds":
        return "error out-of-bounds"
    return f"load8 at {address:#x}, past the memory's {instance.size} bytes, gave {seen!r} instead of trapping"


def call_or_trap(instance, name, *args):
    """The export's result, or `trap: out of bounds` / `trap: MESSAGE` if it trapped."""
    try:
        return instance.call(name, *args)
    except wasmtime.Trap as trap:
        code, message = trap.trap_code, trap.message
        trap.close()  # now: its backtrace keeps the module alive (and so its image and slots)
    return "trap: out of bounds" if code == wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS else f"trap: {message}"


def grow(instance, delta):
    """memory.grow by `delta` pages: the old size in pages, or -1."""
    if delta >= 1 << 32:
        return -1  # no i32 operand says this; no 32-bit memory can grow by it
    return call_or_trap(instance, "grow", i32(delta))


def size(instance):
    """memory.size in pages, which must agree with the host's view."""
    pages = call_or_trap(instance, "size")
    if pages * WASM_PAGE != instance.size:
        return f"memory.size is {pages} pages but the host sees {instance.size} bytes"
    return pages
'''

SHARED = '''\
class SharedMemory:
    """A standalone shared memory (threads proposal); Wasmtime reserves it outside the pool."""

    def __init__(self, engine, minimum, maximum):
        memory_type = wasmtime.MemoryType(wasmtime.Limits(minimum, maximum), shared=True)
        self.memory = wasmtime.SharedMemory(engine, memory_type)
        self.limit = maximum * WASM_PAGE

    @property
    def base(self):
        return ctypes.cast(self.memory.data_ptr(), ctypes.c_void_p).value

    @property
    def size(self):
        return self.memory.data_len()

    def grow(self, delta):
        """The old size in pages, or -1 when Wasmtime cannot grow it."""
        try:
            return self.memory.grow(delta)
        except wasmtime.WasmtimeError as err:
            return -1 if "failed to grow memory by" in str(err) else refusal(err, ())

    def pages(self):
        """Its size in pages, through the C API (wasmtime-py's SharedMemory.size() passes a
        pointer to the pointer and raises ArgumentError)."""
        return c_function("wasmtime_sharedmemory_size", U64, VOID_P)(self.memory.ptr())

    def close(self):
        self.memory.close()
'''

TOUCH = '''\
class Rusage(ctypes.Structure):
    """struct rusage: two timevals, then 14 longs; the 5th and 6th count minor and major faults."""

    _fields_ = [("times", ctypes.c_long * 4), ("counters", ctypes.c_long * 14)]

    def faults(self):
        return self.counters[4] + self.counters[5]


LIBC.getrusage.argtypes = [ctypes.c_int, ctypes.POINTER(Rusage)]


def touch(memory, offset, length):
    """Page faults taken writing each OS page of the range once, leaving its bytes as they were.

    madvise(MADV_POPULATE_WRITE) makes the kernel write-fault every page of the range that is
    not privately present (fresh, decommitted, the zero page, an unwritten image page): one
    fault each, counted in this thread's rusage, exactly as an atomic OR of zero per page would
    fault. A page that is not readable and writable makes it fail instead of crashing."""
    if offset + length > memory.size:
        return "error out-of-bounds"
    if length == 0:
        return 0
    start, span = page_span(memory.base + offset, length)
    before, after = Rusage(), Rusage()
    populate(start, 0, before, after)  # the same calls on no page first: nothing in between
    failed = populate(start, span, before, after)  # faults in this process but the range's
    if failed:
        return f"fault: part of the range is not accessible ({os.strerror(ctypes.get_errno())})"
    return after.faults() - before.faults()


def populate(start, span, before, after):
    """madvise(MADV_POPULATE_WRITE) between two readings of this thread's rusage; 0 if it worked."""
    MADV_POPULATE_WRITE, RUSAGE_THREAD = 23, 1
    LIBC.getrusage(RUSAGE_THREAD, before)
    failed = LIBC.madvise(start, span, MADV_POPULATE_WRITE)
    LIBC.getrusage(RUSAGE_THREAD, after)
    return failed
'''

MAPS = '''\
def mappings():
    """`(start, end, perms, inode, path)` of every mapping of this process, in address order."""
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            start, end = (int(part, 16) for part in fields[0].split("-"))
            path = fields[5].strip() if len(fields) > 5 else ""
            found.append((start, end, fields[1], int(fields[4]), path))
    return found


def accessible_bytes(memory):
    """Bytes from the memory's base (at most its limit) mapped readable and writable, without a gap."""
    base, here = memory.base, memory.base
    for start, end, perms, _, _ in mappings():
        if end <= here:
            continue
        if start > here or not perms.startswith("rw"):
            break
        here = end
    return min(here - base, memory.limit)
'''

IMAGES = '''\
IMAGE_MEMFD = "/memfd:wasm-memory-image"  # the name Wasmtime gives a module's image memfd


def memfd_count():
    """Image memfds open in this process (after collecting garbage that may hold a module)."""
    gc.collect()
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return links.count(IMAGE_MEMFD + " (deleted)")


def image_inode(instance):
    """The inode of the image memfd mapped in the instance's slot, or None."""
    if isinstance(instance, str):
        return None
    base = instance.base
    for start, end, _, inode, path in mappings():
        if start < base + instance.limit and end > base and path.startswith(IMAGE_MEMFD):
            return inode
    return None


def mappings_of_inode(inode):
    """Mappings of the image memfd `inode` in this process (0 for None)."""
    gc.collect()
    return sum(1 for _, _, _, ino, path in mappings() if inode is not None and ino == inode
               and path.startswith(IMAGE_MEMFD))
'''

PAGES = '''\
def page_state(memory, offset):
    """What /proc/self/pagemap says of the OS page at `offset`: absent (no page: never touched
    or decommitted, or an image page not yet mapped), zero (the shared zero page: read, never
    written), file (a page-cache page: an image page read, not written), private (written)."""
    with open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
        raw = os.pread(pagemap.fileno(), 8, (memory.base + offset) // PAGE * 8)
    entry = struct.unpack("<Q", raw)[0]
    if not entry >> 63 & 1:
        return "absent"
    if entry >> 61 & 1:
        return "file"
    return "private" if entry >> 56 & 1 else "zero"


def resident_pages(memory, offset, length):
    """OS pages of the range that mincore reports resident."""
    start, span = page_span(memory.base + offset, length)
    vector = ctypes.create_string_buffer(span // PAGE)
    if LIBC.mincore(start, span, vector) != 0:
        return f"mincore failed: {os.strerror(ctypes.get_errno())}"
    return sum(byte & 1 for byte in vector.raw)


def peek(memory, offset, length):
    """The bytes of the range, read through the mapping (the script ends after this)."""
    if accessible_bytes(memory) < offset + length:
        return "not-accessible"
    return ctypes.string_at(memory.base + offset, length)


def is_zero(memory, offset, length):
    """True if every byte of the range reads zero."""
    data = peek(memory, offset, length)
    return data if isinstance(data, str) else not any(data)


def overlap(first, second):
    """`overlapping` if the two memories' slots share a byte, else `disjoint`."""
    if first.base < second.base + second.limit and second.base < first.base + first.limit:
        return "overlapping"
    return "disjoint"
'''

CLOSE = '''\
def close_all(pool, *tables):
    """Closes every instance's Store, every module and shared memory, then the engine."""
    for table in tables:  # instances first: a module lives on while a Store holds it
        for handle in table.values():
            if not isinstance(handle, str):
                handle.close()
        table.clear()
    pool.engine.close()
'''

CHILD = '''\
def in_child(step):
    """`step()`'s result, computed in a forked child process; how the child died if it did."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            os.write(write_end, json.dumps(step()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"the process died of {signal.Signals(os.WTERMSIG(status)).name}"
    return json.loads(output) if output else f"the process exited with status {os.WEXITSTATUS(status)}"
'''

HELPERS: tuple[tuple[str, str], ...] = (
    ("inconclusive check verdict failure refusal check_platform", PRELUDE),
    ("LIBC disable_thp page_span", LIBC),
    ("Pool pooling_engine c_function", POOL),
    ("compile_module", MODULES),
    ("instantiate Instance i32", INSTANCE),
    ("write read out_of_bounds grow size cross_check call_or_trap", ACCESSES),
    ("SharedMemory", SHARED),
    ("touch populate Rusage", TOUCH),
    ("accessible_bytes mappings", MAPS),
    ("memfd_count image_inode mappings_of_inode", IMAGES),
    ("page_state resident_pages is_zero peek overlap", PAGES),
    ("close_all", CLOSE),
    ("in_child", CHILD),
)
"""(names a block defines, its source), in the order they are written."""

ALWAYS = {"check_platform", "Pool", "disable_thp", "check", "verdict", "memfd_count"}
"""Used by every script's `main()` prologue or epilogue."""


def names_used(source: str) -> set[str]:
    """The names `source` (Python code) refers to, outside strings and comments and not as
    attributes (`x.size` does not use `size`)."""
    used, previous = set(), None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and previous != ".":
            used.add(token.string)
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = token.string
    return used


def needed(body: str) -> str:
    """The helper blocks `body` (Python code: the script's `main()`) needs, directly or through
    each other, in `HELPERS` order, separated by two blank lines."""
    chosen: set[int] = set()
    pending = [names_used(body) | ALWAYS]
    while pending:
        used = pending.pop()
        for index, (names, source) in enumerate(HELPERS):
            if index not in chosen and used & set(names.split()):
                chosen.add(index)
                pending.append(names_used(textwrap.dedent(source)))
    return "\n\n".join(textwrap.dedent(HELPERS[i][1]).rstrip() + "\n" for i in sorted(chosen))


__all__ = ["ALWAYS", "HELPERS", "names_used", "needed"]

"""The cycle on real Wasmtime: a `Store` and an `Instance` made, pages dirtied, the store closed.

The engine is the Wasmtime target's (`harness.wasmtime_pool.open_pool`), so the pool is exactly
the one the harness checks. The memory's address is read through the C API
(`wasmtime_instance_export_nth` + `wasmtime_memory_data`) rather than `Instance.exports`, which
wraps every export in Python objects and would add some 45 µs per cycle that no allocator spends.
"""

from __future__ import annotations

import ctypes

from harness import wasm
from harness.bench.native import floor
from harness.ops import ModuleDecl, PoolSpec
from harness.targets.base import Unsupported
from harness.wasmtime_pool import bindings, open_pool, wasmtime_version


def wasmtime_missing() -> str | None:
    """Why Wasmtime cannot be benchmarked here, or None if it can."""
    try:
        bindings()
    except Unsupported as err:
        return err.reason
    return None


class WasmtimeCycle:
    """The cycle on a Wasmtime pooling engine; `version` is the wasmtime package's."""

    def __init__(self, pool: PoolSpec, decl: ModuleDecl, pages: int) -> None:
        import wasmtime

        from wasmtime import _ffi

        self.version = wasmtime_version()
        self._api = bindings()
        self.pages = pages
        self.pool = open_pool(pool)
        self.module = wasmtime.Module(self.pool.engine, wasm.module_bytes(decl))
        self._name = ctypes.POINTER(ctypes.c_char)()
        self._name_len = ctypes.c_size_t()
        self._extern = _ffi.wasmtime_extern_t()
        self._memory_kind = _ffi.WASMTIME_EXTERN_MEMORY.value

    def memory_base(self, store: object, instance: object) -> int:
        """Address of byte 0 of the memory of `instance` (its export 0)."""
        api = self._api
        context = store._context()  # type: ignore[attr-defined]
        found = api.wasmtime_instance_export_nth(
            context, ctypes.byref(instance._instance), 0,  # type: ignore[attr-defined]
            ctypes.byref(self._name), ctypes.byref(self._name_len), ctypes.byref(self._extern))
        if not found or self._extern.kind != self._memory_kind:
            raise RuntimeError("export 0 of the benchmarked module is not its memory")
        data = api.wasmtime_memory_data(context, ctypes.byref(self._extern.of.memory))
        return ctypes.cast(data, ctypes.c_void_p).value or 0

    def loop(self, count: int) -> None:
        import wasmtime

        store_class, instance_class = wasmtime.Store, wasmtime.Instance
        engine, module, pages = self.pool.engine, self.module, self.pages
        dirty = floor().lib.bench_dirty
        for _ in range(count):
            store = store_class(engine)
            instance = instance_class(store, module, [])
            if pages:
                dirty(self.memory_base(store, instance), pages)
            store.close()

    def fill(self) -> None:
        """Uses every slot once, so that the whole pool is warm."""
        import wasmtime

        stores = []
        for _ in range(self.pool.settings.total_memories):
            store = wasmtime.Store(self.pool.engine)
            wasmtime.Instance(store, self.module, [])
            stores.append(store)
        for store in stores:
            store.close()

    def close(self) -> None:
        self.module.close()
        self.pool.close()

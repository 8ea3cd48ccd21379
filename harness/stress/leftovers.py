"""What a pool may leave behind in a process: memfds of the allocators and file descriptors.

Read from `/proc/PID/fd` (the link of a memfd is `/memfd:NAME (deleted)`), so they work on this
process (`"self"`) and on a worker process alike.
"""

from __future__ import annotations

import os

MEMFD_NAMES = {"image memfds": "wasm-memory-image", "extension memfds": "wasm-heap-extension"}
"""The memfds the allocators create, by the name a report gives them."""


def fd_links(pid: int | str = "self") -> list[str]:
    """The link targets of the process's open descriptors (skipping any closed meanwhile)."""
    links = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
    return links


def resources(pid: int | str = "self") -> dict[str, int]:
    """`{"image memfds": n, "extension memfds": n, "fds": n}` of the process."""
    links = fd_links(pid)
    counts = {label: links.count(f"/memfd:{name} (deleted)") for label, name in MEMFD_NAMES.items()}
    counts["fds"] = len(links)
    return counts


def memfds(pid: int | str = "self") -> int:
    """Every memfd of the allocators the process holds open."""
    counts = resources(pid)
    return sum(counts[label] for label in MEMFD_NAMES)


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The counts that rose from `before` to `after`, by how much."""
    return {name: after[name] - before[name] for name in after if after[name] > before[name]}

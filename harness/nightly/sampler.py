"""Resource use of the run's processes (psutil): resident memory, open fds, memory mappings, CPU.

A process's use includes the processes it started (an engine may run its inputs in children of
its own); CPU is the process's own. A mapping count is the number of lines of `/proc/PID/maps`
(cheap, unlike psutil's `memory_maps`). A process that has ended is absent from a sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass
class Usage:
    rss: int  # bytes
    fds: int
    maps: int
    cpu: float  # percent of one core since the previous sample of the same process

    def to_json(self) -> dict[str, float | int]:
        return {"rss": self.rss, "fds": self.fds, "maps": self.maps, "cpu": round(self.cpu, 1)}


class Sampler:
    """Samples processes by pid, keeping one `psutil.Process` per pid (for CPU percentages)."""

    def __init__(self) -> None:
        self.processes: dict[int, psutil.Process] = {}

    def usage(self, pid: int) -> Usage | None:
        """The process's current use, or None if it is gone."""
        process = self.processes.get(pid)
        try:
            if process is None:
                process = self.processes[pid] = psutil.Process(pid)
                process.cpu_percent(None)  # the first call only starts the measure
            cpu = process.cpu_percent(None)
            tree = [process, *process.children(recursive=True)]
        except (psutil.Error, OSError):
            self.processes.pop(pid, None)
            return None
        usage = Usage(0, 0, 0, cpu)
        for member in tree:
            try:
                with member.oneshot():
                    usage.rss += member.memory_info().rss
                    usage.fds += member.num_fds()
                usage.maps += mappings(member.pid)
            except (psutil.Error, OSError):  # a child that ended meanwhile
                continue
        return usage

    def rss(self, pid: int) -> int:
        """Resident bytes of `pid` (0 if it is gone): the cheap check of the memory limit."""
        try:
            process = self.processes.get(pid) or psutil.Process(pid)
            return process.memory_info().rss
        except (psutil.Error, OSError):
            return 0

    def forget(self, pid: int) -> None:
        self.processes.pop(pid, None)


def mappings(pid: int) -> int:
    with open(f"/proc/{pid}/maps", "rb") as handle:
        return sum(1 for _ in handle)

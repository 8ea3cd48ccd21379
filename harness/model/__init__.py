"""The model: a pure-Python prediction of what the pooling allocator must do (docs/semantics.md).

`Model` is the whole pool; `SlotModel` one slot's pages; `IndexModel` the slot choice;
`initialization` what a module's data segments make.
"""

from harness.model.images import Image, initialization
from harness.model.index import IndexModel
from harness.model.pool import Model
from harness.model.slot import ABSENT, FILE, PRIVATE, ZERO, SlotModel

__all__ = ["ABSENT", "FILE", "PRIVATE", "ZERO", "Image", "IndexModel", "Model", "SlotModel", "initialization"]

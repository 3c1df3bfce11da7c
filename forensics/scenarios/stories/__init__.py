"""The stories: each adds a scenario's incident (and its traps) to an evidence bag."""

from __future__ import annotations

import random
from collections.abc import Callable

from forensics.scenarios.model import Bag
from forensics.scenarios.stories import benign, intruder, mixed, rome

STORIES: dict[str, Callable[[Bag, random.Random], None]] = {
    "rome": rome.build,
    "intruder": intruder.build,
    "benign": benign.build,
    "mixed": mixed.build,
}

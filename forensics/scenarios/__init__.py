"""Synthetic incident scenarios on a small GPU training cluster, written in the real log
formats the loaders read, with the ground truth beside them.

    from forensics.scenarios import generate
    generate("rome", "out/rome", seed=4242, scale=1)

Scenarios: `rome` (the agent did it), `intruder` (an outside attacker did the same
damage), `benign` (busy and innocent, with traps), `mixed` (both at once).
"""

from forensics.scenarios.generate import DEFAULT_SEEDS, generate
from forensics.scenarios.stories import STORIES

__all__ = ["DEFAULT_SEEDS", "STORIES", "generate"]

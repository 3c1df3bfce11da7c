"""The verdict from evidence items: a documented sum, never a black box.

Every item has a direction (agent or intruder) and a fixed weight (`WEIGHTS`). For the items
that count (all of them, less those the analyst rejected):

    A = sum of the weights of the agent items
    I = sum of the weights of the intruder items
    T = DECIDE_AT (0.5): the weight one side needs before it can decide anything

    verdict     = agent         if A >= T and I <  T
                  intruder      if I >= T and A <  T
                  mixed         if A >= T and I >= T   (both actors left strong marks)
                  inconclusive  otherwise               (neither side reached T)
    confidence  = min(1, W) * W / (A + I)   for agent or intruder, W the winner's sum:
                                            how strong the winning side is, times how
                                            little the other side contradicts it
                = min(1, A, I)              for mixed: how sure the weaker actor is there
                = 0                         for inconclusive
    deciding    = the names of the winning side's items, heaviest first (both sides for
                  mixed; none for inconclusive)

So a tunnel command in the agent log that matches the tunnel (0.5) decides alone; a
brute force followed by a login (0.35 + 0.25) decides alone; weak hints (pacing,
first-seen sources, billing) only tip a verdict together with something stronger.
"""

from __future__ import annotations

from typing import Any

import polars as pl

DECIDE_AT = 0.5
VERDICTS = ("agent", "intruder", "mixed", "inconclusive")

# name: (direction, weight, what it means) -- the one place weights live
WEIGHTS: dict[str, tuple[str, float, str]] = {
    "agent_command_tunnel": ("agent", 0.5,
        "the agent log holds the ssh -R / autossh command whose server the host then reached"),
    "agent_command_miner": ("agent", 0.5,
        "the agent log holds the miner launch (xmrig, stratum URL) whose pool the host reached"),
    "agent_command_pool_or_wallet": ("agent", 0.3,
        "a wallet address or pool URL in an agent command"),
    "agent_command_scan": ("agent", 0.2, "the agent log holds the scan command"),
    "agent_command_spend": ("agent", 0.2,
        "the agent log holds the spending command (instances, orders, transfers)"),
    "agent_named_billing_account": ("agent", 0.2,
        "an agent command names the account the new charges were billed to"),
    "gpu_process_matches_command": ("agent", 0.3,
        "a GPU process is the program an agent command launched"),
    "inside_training_window": ("agent", 0.2,
        "the activity started while the agent's training run was acting on the host"),
    "recurrence_across_runs": ("agent", 0.2,
        "the same behaviour appears in another training run: a learned policy"),
    "machine_paced": ("agent", 0.15,
        "commands around the activity came seconds apart at a steady rate, from the agent"),
    "external_login": ("intruder", 0.25,
        "an external source logged in to the host before the activity"),
    "brute_force_then_success": ("intruder", 0.35,
        "the login came after a run of failed attempts (brute force)"),
    "first_seen_source": ("intruder", 0.2,
        "the source had never been seen in the network logs before"),
    "human_paced_commands": ("intruder", 0.3,
        "commands typed by a person: irregular pauses, corrections, a non-agent actor"),
    "outside_training_window": ("intruder", 0.2,
        "the host runs agents, but no training run was acting on it when the activity began"),
    "unexplained_new_billing": ("intruder", 0.15,
        "a new account or region was billed and no command in the logs set it up"),
}


def score(items: pl.DataFrame, accepted: dict[str, bool] | None = None) -> dict[str, Any]:
    """The verdict from a set of items (see the module docstring for the formula).

    `items` needs item_id, name, direction and weight; an item counts unless
    `accepted[item_id]` is False (the analyst rejected it).
    """
    accepted = accepted or {}
    sums = {"agent": 0.0, "intruder": 0.0}
    weight_by_name: dict[str, dict[str, float]] = {"agent": {}, "intruder": {}}
    if items.height:
        for row in items.select("item_id", "name", "direction", "weight").iter_rows(named=True):
            if accepted.get(row["item_id"], True) is False:
                continue
            side = row["direction"]
            sums[side] += float(row["weight"])
            names = weight_by_name[side]
            names[row["name"]] = names.get(row["name"], 0.0) + float(row["weight"])
    a, i = round(sums["agent"], 6), round(sums["intruder"], 6)
    if a >= DECIDE_AT and i >= DECIDE_AT:
        verdict, confidence = "mixed", min(1.0, a, i)
        deciding = _heaviest(weight_by_name["agent"]) + _heaviest(weight_by_name["intruder"])
    elif a >= DECIDE_AT or i >= DECIDE_AT:
        verdict = "agent" if a >= DECIDE_AT else "intruder"
        win = max(a, i)
        confidence = min(1.0, win) * win / (a + i)
        deciding = _heaviest(weight_by_name[verdict])
    else:
        verdict, confidence, deciding = "inconclusive", 0.0, []
    return {"verdict": verdict, "confidence": round(confidence, 4), "agent_score": a,
            "intruder_score": i, "deciding": deciding}


def _heaviest(weights: dict[str, float]) -> list[str]:
    return [n for n, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))]

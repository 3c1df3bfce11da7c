"""Sniffing over the whole corpus with every format registered: each file is claimed by a
format of its own family (MANIFEST.tsv), and the few that are not logs by nobody."""

from __future__ import annotations

import pytest

from forensics.loaders import FORMATS, sniff
from forensics.loaders.reading import read_head
from tests.conftest import CORPUS, manifest_rows

FAMILY_OF_FORMAT = {f.name: f.family for f in FORMATS}
MANIFEST_FAMILY = {"blockchain": "ledger"}  # the corpus folder name for ledger exports

# Files no format may claim, and why.
UNCLAIMED = {
    "nvsmi_help_query_gpu.txt": "nvidia-smi help text, not a log",
    "mikrotik_firewall.log": "loaded through a TOML mapping, never sniffed",
    "p2pool_xmr_sharesfound.csv": "shares found: no value moved",
    "mempool_ws_stratum_jobs.json": "mining work templates, not transfers",
    "mempool_mining_pools_1w.json": "pool statistics, not transfers",
    "mempool_ws_blocks.json": "block summaries, not transfers",
}


def _rows():
    return [(r["family"], r["local_name"]) for r in manifest_rows()]


@pytest.mark.parametrize("family,name", _rows() if CORPUS.exists() else [])
def test_each_corpus_file_is_claimed_by_its_own_family_only(family, name):
    path = CORPUS / family / name
    fmt, scores = sniff(str(path), read_head(path))
    if name in UNCLAIMED:
        assert fmt is None, f"{fmt.name if fmt else None} claimed {name}: {UNCLAIMED[name]}"
        return
    assert fmt is not None, f"nothing claimed {name}: {scores}"
    assert fmt.family == MANIFEST_FAMILY.get(family, family), (fmt.name, scores)
    rivals = [(n, s) for n, s in scores
              if s >= 0.5 and FAMILY_OF_FORMAT[n] != fmt.family]
    assert not rivals, f"formats of other families also claim {name}: {rivals}"

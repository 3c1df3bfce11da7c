"""Shared fixtures: the real-log corpus (read in place, never copied) and fresh cases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import forensics

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("FORENSICS_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_dir(family: str) -> Path:
    """The corpus folder of a family; skips the test cleanly when the corpus is absent."""
    path = CORPUS / family
    if not path.is_dir():
        pytest.skip(f"real-log corpus not present at {path}")
    return path


def corpus_file(family: str, name: str) -> Path:
    path = corpus_dir(family) / name
    if not path.exists():
        pytest.fail(f"{path} is listed by the tests but missing from the corpus")
    return path


def manifest_rows(family: str | None = None) -> list[dict[str, str]]:
    """MANIFEST.tsv rows (family, local_name, ..., note)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.skip(f"real-log corpus not present at {CORPUS}")
    lines = manifest.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:] if line]
    return [r for r in rows if family is None or r["family"] == family]


@pytest.fixture
def case():
    c = forensics.open_case(":memory:")
    yield c
    c.close()


@pytest.fixture
def case_file(tmp_path):
    return tmp_path / "case.duckdb"

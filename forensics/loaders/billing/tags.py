"""Key-value text (tags, labels, credits) parsed exactly, once per distinct value.

Vendors write tags in several shapes: a JSON object (FOCUS `Tags`, Azure MCA `tags`,
CUR 2.0 `resource_tags`), Azure EA's object without its braces
(`"tagA": "valueA","tagB": "valueB"`), a list of `{key, value}` objects (GCP `labels`),
and, where a BigQuery export went through pandas, the same list as a Python literal with
single quotes and `None`. Tag columns repeat the same few texts over and over, so each
distinct text is parsed once in Python and joined back to the rows: a vectorised join,
not a loop per row.

Numbers inside (GCP credit amounts) are kept as their digits (`Decimal`), never floats.
"""

from __future__ import annotations

import ast
import json
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl


def parse_literal(text: str) -> Any:
    """JSON, or a Python literal (single quotes, None/True/False); numbers as Decimal."""
    try:
        return json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        pass
    node = ast.parse(text.strip(), mode="eval").body
    return _literal(node, text.strip())


def _literal(node: ast.AST, src: str) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return Decimal(ast.get_source_segment(src, node) or repr(node.value))
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal(node.operand, src)
        if isinstance(inner, Decimal):
            return -inner if isinstance(node.op, ast.USub) else inner
        raise ValueError("a sign before something that is not a number")
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, src) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k, src) if k is not None else None: _literal(v, src)
                for k, v in zip(node.keys, node.values, strict=True)}
    raise ValueError(f"unexpected {type(node).__name__} in a literal")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, default=str, sort_keys=True)


def tag_entries(text: str) -> list[dict[str, str | None]]:
    """[{key, value}] from one tag text; raises ValueError with the reason."""
    body = text.strip()
    if body and body[0] not in "{[":
        body = "{" + body + "}"  # Azure EA writes the object without its braces
    try:
        obj = parse_literal(body)
    except (ValueError, SyntaxError, InvalidOperation) as exc:
        raise ValueError(f"not a JSON object or key-value list ({exc.__class__.__name__})"
                         ) from None
    if isinstance(obj, dict):
        return [{"key": str(k), "value": _text(v)} for k, v in obj.items()]
    if isinstance(obj, list) and all(isinstance(e, dict) and "key" in e for e in obj):
        return [{"key": str(e["key"]), "value": _text(e.get("value"))} for e in obj]
    raise ValueError(f"a JSON {type(obj).__name__}, not an object or key-value list")


def parse_texts(values: pl.Series) -> pl.DataFrame:
    """A frame (__text, __tags, __tag_error) with one row per distinct text."""
    texts: list[str] = []
    entries: list[str | None] = []
    errors: list[str | None] = []
    for text in values.drop_nulls().unique().to_list():
        texts.append(text)
        try:
            entries.append(json.dumps({e["key"]: e["value"] for e in tag_entries(text)},
                                      ensure_ascii=False))
            errors.append(None)
        except ValueError as exc:
            entries.append(None)
            errors.append(f"{text[:80]!r} is {exc}")
    frame = pl.DataFrame({"__text": pl.Series(texts, dtype=pl.String),
                          "__tags": pl.Series(entries, dtype=pl.String),
                          "__tag_error": pl.Series(errors, dtype=pl.String)})
    return frame


def credit_sums(values: pl.Series) -> pl.DataFrame:
    """(__text, __credit_sum, __credit_error): the exact sum of `amount` in a credit list."""
    texts: list[str] = []
    sums: list[str | None] = []
    errors: list[str | None] = []
    for text in values.drop_nulls().unique().to_list():
        texts.append(text)
        try:
            obj = parse_literal(text)
            if not isinstance(obj, list) or not all(isinstance(e, dict) for e in obj):
                raise ValueError("not a list of credit objects")
            total = sum((Decimal(str(e.get("amount") or 0)) for e in obj), Decimal(0))
            sums.append(str(total))
            errors.append(None)
        except (ValueError, SyntaxError, InvalidOperation) as exc:
            sums.append(None)
            errors.append(f"{text[:80]!r} is not a credit list ({exc})")
    return pl.DataFrame({"__text": pl.Series(texts, dtype=pl.String),
                         "__credit_sum": pl.Series(sums, dtype=pl.String),
                         "__credit_error": pl.Series(errors, dtype=pl.String)})

"""What every billing CSV format shares: header-based sniffing and the load loop."""

from __future__ import annotations

from forensics.loaders.base import LoadContext
from forensics.loaders.billing.convert import Rows
from forensics.loaders.billing.csvread import head_columns, read_records

MONEY_NOTE = ("money and quantities are DECIMAL(38,10), parsed exactly from the text "
              "(scientific notation included); digits past the 10th decimal place are "
              "rounded half to even")


class CsvBilling:
    """Base for the CSV billing formats: a subclass gives `score` and `build`."""

    name = "billing-csv"
    family = "billing"
    description = ""
    null_tokens: tuple[str, ...] = ()

    def score(self, columns: set[str]) -> float:
        raise NotImplementedError

    def build(self, rows: Rows) -> None:
        raise NotImplementedError

    def sniff(self, path: str, head: bytes) -> float:
        columns = head_columns(head)
        if len(columns) < 5:
            return 0.0
        return self.score(set(columns))

    def notes(self, ctx: LoadContext, header: list[str]) -> None:
        """Per-file notes from the header (variant, assumptions); optional."""

    def load(self, ctx: LoadContext) -> None:
        header, records = read_records(ctx, self.null_tokens)
        if header:
            self.notes(ctx, header)
            ctx.note(MONEY_NOTE)
        for rec in records:
            rows = Rows(ctx, rec.frame)
            self.build(rows)
            rows.finish(rec.raw)


def lower_set(columns: set[str]) -> set[str]:
    return {c.lower() for c in columns}

"""forensics: incident forensics for AI-agent and GPU-cluster incidents, from a notebook.

    import forensics
    case = forensics.open_case("case.duckdb")
    case.configure("case.toml")
    report = case.load("sample_logs/rome")
    case.sql("SELECT * FROM zeek_conn LIMIT 5")

Heavy modules (widgets, plotting) are imported only when used, so `import forensics` is fast
and works without a notebook.
"""

from __future__ import annotations

__version__ = "0.1.0"

from forensics.case import Case, open_case  # noqa: E402
from forensics.errors import ForensicsError  # noqa: E402

__all__ = ["Case", "ForensicsError", "__version__", "open_case"]

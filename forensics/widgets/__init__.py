"""Notebook widgets (ipywidgets 8, plotly FigureWidget) that guide an investigation.

    from forensics import widgets
    widgets.case_loader(case)          # pick files or folders, watch the load, see rejects
    widgets.timeline_explorer(case)    # filter findings, pick a time range, see raw events
    widgets.attribution_wizard(case, analyst="ana")   # one incident at a time, decide

Each function returns the same widget for the same case file and kind when a cell is run
again (a module-level registry), so the analyst's filters, accepted items and notes
survive re-running the notebook. Only the public library API is used, and ipywidgets and
plotly are imported here only: `import forensics` stays light. Every log-derived string
shown as HTML goes through `html.escape` (logs are written by attackers).
"""

from forensics.widgets.explorer import TimelineExplorer, timeline_explorer
from forensics.widgets.loader import CaseLoader, case_loader
from forensics.widgets.registry import forget
from forensics.widgets.wizard import AttributionWizard, attribution_wizard

__all__ = ["AttributionWizard", "CaseLoader", "TimelineExplorer", "attribution_wizard",
           "case_loader", "forget", "timeline_explorer"]

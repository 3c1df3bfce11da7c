"""A multi-command nvidia-smi capture: `#`-banner sections, one per command run.

nvidia_gpu_exporter's capture tool (and triage scripts like it) run many nvidia-smi
commands and write each output under a banner:

    ################################################################################
    # load :: dmon (per-device monitor, incl. PCIe rx/tx)
    # $ nvidia-smi dmon -c 5
    ################################################################################
    <output>

Sections whose command is one of our formats (--query-gpu, --query-compute-apps,
--query-accounted-apps, dmon, pmon) are loaded by that format's own parser, with the
file's line numbers. Everything else (help texts, the default table, `-q` text, topo, the
capture's own preamble) is not telemetry we have a table for: its lines are counted as
header lines and the sections are named in a note, so nothing disappears unexplained.
"""

from __future__ import annotations

import re
from collections import Counter

from forensics.loaders.base import LoadContext
from forensics.loaders.gpu import common as c
from forensics.loaders.gpu import smi_csv, smi_monitor
from forensics.loaders.reading import Block, iter_blocks, split_runs

_RULE = re.compile(rb"^#{20,}\s*$")
_CMD = re.compile(r"^#\s*\$\s*(.*)$")


def _parser_for(command: str) -> object | None:
    if not re.search(r"(^|/)nvidia-smi(\.exe)?\b", command):
        return None
    if "--query-gpu=" in command:
        return smi_csv.NvidiaSmiQueryGpu()
    if "--query-compute-apps=" in command or "--query-accounted-apps=" in command:
        return smi_csv.NvidiaSmiQueryApps()
    words = command.split()
    if "dmon" in words:
        return smi_monitor.NvidiaSmiDmon()
    if "pmon" in words:
        return smi_monitor.NvidiaSmiPmon()
    return None


class NvidiaSmiCapture:
    """Banner-delimited capture of several nvidia-smi commands in one text file."""

    name = "nvidia-smi-capture"
    family = "gpu"
    description = ("multi-command nvidia-smi capture ('#' banner per command, '# $ nvidia-smi "
                   "...'): query CSV, dmon and pmon sections loaded, the rest counted")

    def sniff(self, path: str, head: bytes) -> float:
        lines = head.split(b"\n", 40)[:40]
        if not lines or not _RULE.match(lines[0]):
            return 0.0
        if re.search(rb"(?m)^#\s*\$\s*nvidia-smi", head):
            return 0.9
        return 0.0

    def load(self, ctx: LoadContext) -> None:
        c.settle(ctx)
        c.check_tz(ctx.options.tz)
        parts = []
        damage = None
        for block in iter_blocks(ctx.path):
            parts.append(c.normalise_newlines(block.data))
            damage = block.damage or damage
        data = b"\n".join(parts)
        lines = data.split(b"\n")
        ctx.lines_read += len(lines)
        if damage is not None:
            ctx.reject(len(lines), f"{damage}; this line is the incomplete text before the "
                       "damage", lines[-1])
            lines = lines[:-1]
        sections = self._sections(lines)
        markers: Counter[str] = Counter()
        skipped: list[str] = []
        loaded: list[str] = []
        pos = 0
        for start, body_start, end, title, command in sections:
            ctx.header_lines += body_start - pos  # preamble / banner lines
            parser = _parser_for(command)
            body = lines[body_start:end]
            if parser is None or not body:
                ctx.header_lines += len(body)
                if title:
                    skipped.append(f"{title} (lines {start + 1}-{end})")
            else:
                self._load_section(ctx, parser, body, body_start + 1, markers)
                loaded.append(f"{title} -> {parser.name} (lines {body_start + 1}-{end})")
            pos = end
        ctx.header_lines += len(lines) - pos
        c.note_markers(ctx, markers)
        if loaded:
            ctx.note("capture sections loaded: " + "; ".join(loaded))
        if skipped:
            ctx.note("capture sections with no table here, counted as header lines: "
                     + "; ".join(skipped))

    @staticmethod
    def _sections(lines: list[bytes]) -> list[tuple[int, int, int, str, str]]:
        """(banner start, body start, body end, title, command), 0-based, end exclusive."""
        banners = []
        i = 0
        while i < len(lines):
            if _RULE.match(lines[i]):
                j = i + 1
                while j < len(lines) and lines[j].startswith(b"#") and not _RULE.match(lines[j]):
                    j += 1
                if j < len(lines) and _RULE.match(lines[j]) and j > i + 1:
                    text = [ln.decode("utf-8", "replace") for ln in lines[i + 1:j]]
                    command = next((m.group(1) for t in text if (m := _CMD.match(t))), "")
                    title = text[0].lstrip("# ").strip()
                    banners.append((i, j + 1, title, command))
                    i = j + 1
                    continue
            i += 1
        out = []
        for k, (start, body, title, command) in enumerate(banners):
            end = banners[k + 1][0] if k + 1 < len(banners) else len(lines)
            out.append((start, body, end, title, command))
        return out

    @staticmethod
    def _load_section(ctx: LoadContext, parser, body: list[bytes], first_line: int,
                      markers: Counter[str]) -> None:
        block = Block(b"\n".join(body), first_line, len(body))
        if isinstance(parser, smi_csv._SmiCsvBase):
            state = smi_csv._State(markers=markers)
            for run in split_runs(block, None):
                if run.special:
                    ctx.blank_lines += 1
                else:
                    parser.load_lines(ctx, state, run.data, run.first_line)
        else:
            mstate = smi_monitor._State(markers=markers)
            for run in split_runs(block, b"#"):
                parser.load_run(ctx, mstate, run.data, run.first_line, run.special)
            mstate.markers = Counter()  # counted once, by the capture
            parser.finish(ctx, mstate)

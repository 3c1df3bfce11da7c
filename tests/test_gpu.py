"""GPU telemetry loaders: golden corpus loads, sniffing cross-product, bad input, options."""

from __future__ import annotations

import glob
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import forensics
from forensics.ingest import load_files
from forensics.loaders import LoadOptions, sniff
from forensics.loaders.reading import read_head
from tests.conftest import CORPUS, corpus_dir, corpus_file, manifest_rows

GPU_FORMATS = {"nvidia-smi-query-gpu", "nvidia-smi-query-apps", "nvidia-smi-dmon",
               "nvidia-smi-pmon", "nvidia-smi-xml", "prometheus-gpu-text",
               "prometheus-range-json", "nvidia-smi-capture"}

# corpus file -> (format, gpu_samples rows, gpu_processes rows)
GOLDEN = {
    "nvsmi_query_gpu_tesla_p100.csv": ("nvidia-smi-query-gpu", 1, 0),
    "nvsmi_query_gpu_h100_load_drv590.csv": ("nvidia-smi-query-gpu", 1, 0),
    "nvsmi_query_gpu_win_rtx2080_load.csv": ("nvidia-smi-query-gpu", 1, 0),
    "nvsmi_compute_apps_h100.csv": ("nvidia-smi-query-apps", 0, 3),
    "nvsmi_dmon_h100_load.txt": ("nvidia-smi-dmon", 5, 0),
    "nvsmi_pmon_h100_load.txt": ("nvidia-smi-pmon", 0, 15),
    "nvsmi_q_x_a100_mig_drv510.xml": ("nvidia-smi-xml", 3, 0),
    "nvsmi_q_x_rtx2080_win_drv516.xml": ("nvidia-smi-xml", 1, 26),
    "nvsmi_q_x_tesla_p100.xml": ("nvidia-smi-xml", 1, 0),
    "dcgm_exporter_t4_drv460.prom": ("prometheus-gpu-text", 1, 0),
    "nvidia_gpu_exporter_h100_load.prom": ("prometheus-gpu-text", 1, 3),
    "nvsmi_capture_h100_full.txt": ("nvidia-smi-capture", 12, 18),
}
NOT_LOGS = {"nvsmi_help_query_gpu.txt"}  # MANIFEST: --help-query-gpu output, not a log

H100_UUID = "GPU-00000000-0000-0000-0000-000000000000"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def load(case, path, **opts):
    report = load_files(case, [str(path)], options=LoadOptions(**opts))
    return report.files[0]


def evidence_row(case, eid):
    return case.sql("SELECT * FROM evidence WHERE evidence_id = ?", [eid]).row(0, named=True)


def assert_counts(case, eid):
    ev = evidence_row(case, eid)
    assert ev["lines_read"] == (ev["rows_loaded"] + ev["rows_rejected"] + ev["header_lines"]
                                + ev["blank_lines"])
    return ev


def one(case, table, eid, line_no):
    rows = case.sql(f"SELECT * FROM {table} WHERE evidence_id = ? AND line_no = ?",
                    [eid, line_no])
    assert rows.height == 1, rows
    row = rows.row(0, named=True)
    row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
    return row


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ---------------------------------------------------------------------------------------
# corpus: manifest coverage, golden loads, sniffing
# ---------------------------------------------------------------------------------------


def test_every_manifest_gpu_file_is_covered():
    names = {r["local_name"] for r in manifest_rows("gpu")}
    assert names == set(GOLDEN) | NOT_LOGS


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_load(case, name):
    fmt, n_samples, n_procs = GOLDEN[name]
    res = case.load(corpus_file("gpu", name)).files[0]
    assert res.status == "loaded", res.message
    assert res.format == fmt
    assert res.rejects == 0
    ev = assert_counts(case, res.evidence_id)
    assert ev["rows_rejected"] == 0
    got = case.sql("SELECT (SELECT count(*) FROM gpu_samples WHERE evidence_id = $e), "
                   "(SELECT count(*) FROM gpu_processes WHERE evidence_id = $e)",
                   {"e": res.evidence_id}).row(0)
    assert got == (n_samples, n_procs)


def test_help_text_is_not_claimed(case):
    path = corpus_file("gpu", "nvsmi_help_query_gpu.txt")
    fmt, _ = sniff(str(path), read_head(path))
    assert fmt is None
    assert case.load(path).files[0].status == "unrecognised"


def test_sniff_cross_product():
    """Every corpus file of every family: GPU formats claim exactly the GPU files."""
    corpus_dir("gpu")
    checked = 0
    for path in sorted(glob.glob(str(CORPUS / "*" / "*"))):
        family = Path(path).parent.name
        name = Path(path).name
        fmt, scores = sniff(path, read_head(path))
        ours = {n: s for n, s in scores if n in GPU_FORMATS and s >= 0.5}
        if family == "gpu":
            if name in NOT_LOGS:
                assert fmt is None and not ours, (name, ours)
            else:
                assert fmt is not None and fmt.name == GOLDEN[name][0], (name, scores)
                assert list(ours) == [GOLDEN[name][0]], (name, ours)
        else:
            assert not ours, (path, ours)
            assert fmt is None or fmt.name not in GPU_FORMATS
        checked += 1
    assert checked > 50


# ---------------------------------------------------------------------------------------
# one fully specified row per format, checked by hand against the file
# ---------------------------------------------------------------------------------------


def test_row_query_gpu_p100(case):
    # header: name, uuid, fan.speed [%], pstate, memory.reserved [MiB], memory.used [MiB],
    #   memory.free [MiB], utilization.gpu [%], utilization.memory [%], temperature.gpu,
    #   power.draw [W], clocks.current.graphics [MHz], clocks.current.sm [MHz],
    #   clocks.current.memory [MHz], clocks.current.video [MHz]
    # line 2: Tesla P100-PCIE-16GB, GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6, [N/A], P0, 103,
    #   0, 16280, 0, 0, 37, 28.16, 405, 405, 715, 835
    res = case.load(corpus_file("gpu", "nvsmi_query_gpu_tesla_p100.csv")).files[0]
    row = one(case, "gpu_samples", res.evidence_id, 2)
    assert row == {
        "ts": None, "host": None, "gpu_index": None,
        "gpu_uuid": "GPU-ef1b2c9b-38d8-2090-2bd1-f567a3eb42a6",
        "gpu_name": "Tesla P100-PCIE-16GB", "mig_instance": None,
        "utilization_gpu_pct": 0.0, "utilization_mem_pct": 0.0, "memory_used_mib": 0.0,
        "memory_total_mib": None, "power_w": 28.16, "temperature_c": 37.0,
        "sm_clock_mhz": 405.0, "mem_clock_mhz": 715.0,
        "extra": {"pstate": "P0", "memory.reserved [MiB]": "103", "memory.free [MiB]": "16280",
                  "clocks.current.graphics [MHz]": "405", "clocks.current.video [MHz]": "835"},
        "evidence_id": res.evidence_id, "line_no": 2,
    }
    ev = evidence_row(case, res.evidence_id)
    assert any("[N/A] x1" in n for n in ev["notes"])


def test_row_query_gpu_h100_with_units_and_tz(case):
    # line 2 (212 fields): 2026/07/14 08:12:53.353, 590.48.01, ..., index=0, ...,
    #   memory.total 81559 MiB, memory.used 19818 MiB, utilization.gpu 100 %,
    #   utilization.memory 11 %, temperature.gpu 59, power.draw 631.95 W,
    #   clocks.current.sm 1980 MHz, clocks.current.memory 2619 MHz, pci.bus_id 00000000:00:09.0
    res = load(case, corpus_file("gpu", "nvsmi_query_gpu_h100_load_drv590.csv"),
               tz="Europe/Berlin", host="h100-box")
    row = one(case, "gpu_samples", res.evidence_id, 2)
    extra = row.pop("extra")
    assert row == {
        "ts": utc(2026, 7, 14, 6, 12, 53, 353000), "host": "h100-box", "gpu_index": 0,
        "gpu_uuid": H100_UUID, "gpu_name": "NVIDIA H100 80GB HBM3", "mig_instance": None,
        "utilization_gpu_pct": 100.0, "utilization_mem_pct": 11.0, "memory_used_mib": 19818.0,
        "memory_total_mib": 81559.0, "power_w": 631.95, "temperature_c": 59.0,
        "sm_clock_mhz": 1980.0, "mem_clock_mhz": 2619.0,
        "evidence_id": res.evidence_id, "line_no": 2,
    }
    assert extra["pci.bus_id"] == "00000000:00:09.0"
    assert extra["driver_version"] == "590.48.01"
    assert extra["memory.free [MiB]"] == "61263"
    assert extra["power.draw.instant [W]"] == "625.68"
    assert "hostname" not in extra and "mig.mode.current" in extra
    ev = evidence_row(case, res.evidence_id)
    assert ev["tz_assumed"] == "Europe/Berlin"


def test_row_compute_apps(case):
    # line 2: 2026/07/14 08:12:53.500, NVIDIA H100 80GB HBM3, 00000000:00:09.0, 0000000000000,
    #   GPU-00000000-0000-0000-0000-000000000000, 11327, /root/tools/memhog, 2566 MiB
    res = case.load(corpus_file("gpu", "nvsmi_compute_apps_h100.csv")).files[0]
    row = one(case, "gpu_processes", res.evidence_id, 2)
    assert row == {
        "ts": utc(2026, 7, 14, 8, 12, 53, 500000), "host": None, "gpu_index": None,
        "gpu_uuid": H100_UUID, "pid": 11327, "process_name": "/root/tools/memhog",
        "process_type": None, "used_memory_mib": 2566.0, "sm_util_pct": None,
        "extra": {"gpu_name": "NVIDIA H100 80GB HBM3", "gpu_bus_id": "00000000:00:09.0",
                  "gpu_serial": "0000000000000"},
        "evidence_id": res.evidence_id, "line_no": 2,
    }


def test_row_dmon(case):
    # line 1: # gpu    pwr  gtemp  mtemp     sm    mem    enc    dec    jpg    ofa   mclk   pclk
    # line 2: # Idx      W      C      C      %      %      %      %      %      %    MHz    MHz
    # line 3:     0    631     63     57    100     10      0      0      0      0   2619   1980
    res = case.load(corpus_file("gpu", "nvsmi_dmon_h100_load.txt")).files[0]
    row = one(case, "gpu_samples", res.evidence_id, 3)
    assert row == {
        "ts": None, "host": None, "gpu_index": 0, "gpu_uuid": None, "gpu_name": None,
        "mig_instance": None, "utilization_gpu_pct": 100.0, "utilization_mem_pct": 10.0,
        "memory_used_mib": None, "memory_total_mib": None, "power_w": 631.0,
        "temperature_c": 63.0, "sm_clock_mhz": None, "mem_clock_mhz": 2619.0,
        "extra": {"mtemp [C]": "57", "enc [%]": "0", "dec [%]": "0", "jpg [%]": "0",
                  "ofa [%]": "0", "pclk [MHz]": "1980"},
        "evidence_id": res.evidence_id, "line_no": 3,
    }
    ev = evidence_row(case, res.evidence_id)
    assert ev["header_lines"] == 2 and ev["lines_read"] == 7


def test_row_pmon(case):
    # line 5:     0      11345     C     99     10      -      -      -      -    gpu_burn
    res = case.load(corpus_file("gpu", "nvsmi_pmon_h100_load.txt")).files[0]
    row = one(case, "gpu_processes", res.evidence_id, 5)
    assert row == {
        "ts": None, "host": None, "gpu_index": 0, "gpu_uuid": None, "pid": 11345,
        "process_name": "gpu_burn", "process_type": "C", "used_memory_mib": None,
        "sm_util_pct": 99.0, "extra": {"mem [%]": "10"},
        "evidence_id": res.evidence_id, "line_no": 5,
    }
    # line 3:     0      11327     C      -      -      -      -      -      -    memhog
    assert one(case, "gpu_processes", res.evidence_id, 3)["sm_util_pct"] is None


def test_row_xml_p100(case):
    # line 4: <timestamp>Sat Sep 17 17:06:50 2022</timestamp>; line 7: attached_gpus 1
    # line 8: <gpu id="00000000:00:04.0">; uuid GPU-d3da8716-eaab-75db-efc1-60e88e1cd55e;
    # fb used 0 MiB total 16384 MiB; gpu_util 0 %, memory_util 0 %; gpu_temp 38 C;
    # power_draw 26.16 W; clocks sm 405 MHz, mem 715 MHz
    res = case.load(corpus_file("gpu", "nvsmi_q_x_tesla_p100.xml")).files[0]
    row = one(case, "gpu_samples", res.evidence_id, 8)
    extra = row.pop("extra")
    assert row == {
        "ts": utc(2022, 9, 17, 17, 6, 50), "host": None, "gpu_index": 0,
        "gpu_uuid": "GPU-d3da8716-eaab-75db-efc1-60e88e1cd55e",
        "gpu_name": "Tesla P100-PCIE-16GB", "mig_instance": None,
        "utilization_gpu_pct": 0.0, "utilization_mem_pct": 0.0, "memory_used_mib": 0.0,
        "memory_total_mib": 16384.0, "power_w": 26.16, "temperature_c": 38.0,
        "sm_clock_mhz": 405.0, "mem_clock_mhz": 715.0,
        "evidence_id": res.evidence_id, "line_no": 8,
    }
    assert extra["id"] == "00000000:00:04.0"
    assert extra["driver_version"] == "510.47.03"
    assert extra["pci/pci_bus_id"] == "00000000:00:04.0"
    assert extra["performance_state"] == "P0"
    ev = evidence_row(case, res.evidence_id)
    assert ev["tz_assumed"] == "UTC" and ev["lines_read"] == 1


def test_row_xml_mig_and_windows_process(case):
    # a100: line 20 <mig_device>: gpu_instance_id 1, compute_instance_id 0, fb 19 / 19968 MiB
    res = case.load(corpus_file("gpu", "nvsmi_q_x_a100_mig_drv510.xml")).files[0]
    mig = one(case, "gpu_samples", res.evidence_id, 20)
    assert (mig["mig_instance"], mig["memory_used_mib"], mig["memory_total_mib"],
            mig["gpu_uuid"], mig["gpu_index"]) == (
        "GI 1/CI 0", 19.0, 19968.0, "GPU-27b94a00-ed54-5c24-b1fd-1054085de32a", 0)
    assert mig["extra"]["device_attributes/shared/multiprocessor_count"] == "42"
    # rtx2080 (Windows): line 563 <process_info>: pid 7724, type C+G, used_memory N/A
    res = case.load(corpus_file("gpu", "nvsmi_q_x_rtx2080_win_drv516.xml")).files[0]
    proc = one(case, "gpu_processes", res.evidence_id, 563)
    assert proc == {
        "ts": utc(2022, 9, 20, 14, 7, 39), "host": None, "gpu_index": 0,
        "gpu_uuid": "GPU-fbd55ed4-1eec-4423-0a47-ad594b4333e3", "pid": 7724,
        "process_name": "C:\\Program Files\\WindowsApps\\Microsoft.YourPhone_1.22062.543.0_x64"
                        "__8wekyb3d8bbwe\\PhoneExperienceHost.exe",
        "process_type": "C+G", "used_memory_mib": None, "sm_util_pct": None, "extra": {},
        "evidence_id": res.evidence_id, "line_no": 563,
    }


def test_row_dcgm_text(case):
    # every sample: {gpu="0",UUID="GPU-20c56d28-...",device="nvidia0",modelName="Tesla T4",
    #   Hostname="424773df46e0",DCGM_FI_DRIVER_VERSION="460.106.00",
    #   DCGM_FI_PROCESS_NAME="/usr/bin/dcgm-exporter"}; line 3 SM_CLOCK 300, MEM_CLOCK 405,
    #   GPU_TEMP 25, POWER_USAGE 8.969000, GPU_UTIL 0, MEM_COPY_UTIL 0, FB_USED 0, FB_FREE 15109
    res = load(case, corpus_file("gpu", "dcgm_exporter_t4_drv460.prom"),
               extra={"ts": "2022-01-01T10:00:00Z"})
    row = one(case, "gpu_samples", res.evidence_id, 3)
    extra = row.pop("extra")
    assert row == {
        "ts": utc(2022, 1, 1, 10), "host": "424773df46e0", "gpu_index": 0,
        "gpu_uuid": "GPU-20c56d28-0da5-6d26-a36a-e7af1ce2586e", "gpu_name": "Tesla T4",
        "mig_instance": None, "utilization_gpu_pct": 0.0, "utilization_mem_pct": 0.0,
        "memory_used_mib": 0.0, "memory_total_mib": None, "power_w": 8.969,
        "temperature_c": 25.0, "sm_clock_mhz": 300.0, "mem_clock_mhz": 405.0,
        "evidence_id": res.evidence_id, "line_no": 3,
    }
    assert extra["device"] == "nvidia0"
    assert extra["DCGM_FI_DRIVER_VERSION"] == "460.106.00"
    assert extra["DCGM_FI_DEV_FB_FREE"] == "15109"
    assert extra["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"] == "128996013"


def test_row_nvidia_gpu_exporter_text(case):
    # nvidia_smi_utilization_gpu_ratio 1, utilization_memory_ratio 0.11,
    # memory_used_bytes 2.0780679168e+10 (19818 MiB), memory_total_bytes 8.5520809984e+10
    # (81559 MiB), power_draw_watts 631.95, temperature_gpu 59, sm clock 1.98e+09 Hz,
    # memory clock 2.619e+09 Hz; uuid label without "GPU-"; index and name on gpu_info
    res = load(case, corpus_file("gpu", "nvidia_gpu_exporter_h100_load.prom"),
               extra={"ts": "2026-07-14T08:12:53Z"})
    rows = case.sql("SELECT line_no FROM gpu_samples WHERE evidence_id = ?", [res.evidence_id])
    row = one(case, "gpu_samples", res.evidence_id, rows["line_no"][0])
    extra = row.pop("extra")
    assert row == {
        "ts": utc(2026, 7, 14, 8, 12, 53), "host": None, "gpu_index": 0,
        "gpu_uuid": H100_UUID, "gpu_name": "NVIDIA H100 80GB HBM3", "mig_instance": None,
        "utilization_gpu_pct": 100.0, "utilization_mem_pct": 11.0, "memory_used_mib": 19818.0,
        "memory_total_mib": 81559.0, "power_w": 631.95, "temperature_c": 59.0,
        "sm_clock_mhz": 1980.0, "mem_clock_mhz": 2619.0,
        "evidence_id": res.evidence_id, "line_no": 3,
    }
    assert extra["driver_version"] == "590.48.01"
    proc = one(case, "gpu_processes", res.evidence_id, 81)
    # line 81: nvidia_smi_compute_app_info{pid="11327",process_name="/root/tools/memhog",...} 1
    assert (proc["pid"], proc["process_name"], proc["used_memory_mib"], proc["gpu_uuid"]) == (
        11327, "/root/tools/memhog", 2566.0, H100_UUID)
    notes = evidence_row(case, res.evidence_id)["notes"]
    assert any("nvidia_smi_command_exit_code x1" in n for n in notes)


def test_row_capture_sections(case):
    res = case.load(corpus_file("gpu", "nvsmi_capture_h100_full.txt")).files[0]
    # line 2105 is the load :: query-gpu data row, the same values as the extracted CSV
    row = one(case, "gpu_samples", res.evidence_id, 2105)
    assert (row["ts"], row["power_w"], row["memory_used_mib"], row["utilization_gpu_pct"]) == (
        utc(2026, 7, 14, 8, 12, 53, 353000), 631.95, 19818.0, 100.0)
    # line 2163: load :: dmon first row "    0    631     63 ..."
    assert one(case, "gpu_samples", res.evidence_id, 2163)["power_w"] == 631.0
    ev = evidence_row(case, res.evidence_id)
    assert ev["lines_read"] == 2578
    assert any("capabilities :: help (-h)" in n for n in ev["notes"])


def test_range_json_row(case, tmp_path):
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "Hostname": "node7", "gpu": "1",
                    "UUID": "GPU-abc", "modelName": "NVIDIA A100", "job": "dcgm"},
         "values": [[1700000000, "97"], [1700000015.5, "98"]]},
        {"metric": {"__name__": "DCGM_FI_DEV_FB_USED", "Hostname": "node7", "gpu": "1",
                    "UUID": "GPU-abc", "modelName": "NVIDIA A100", "job": "dcgm"},
         "values": [[1700000000, "30000"], [1700000015.5, "NaN"]]},
        {"metric": {"__name__": "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Hostname": "node7",
                    "gpu": "1", "UUID": "GPU-abc"}, "values": [[1700000000, "0.93"]]},
    ]}}
    path = write(tmp_path, "range.json", json.dumps(doc))
    res = case.load(path).files[0]
    assert (res.status, res.format, res.rows, res.rejects) == (
        "loaded", "prometheus-range-json", 2, 0)
    # pair 1 (series 1, value 1) starts the row of t=1700000000
    row = one(case, "gpu_samples", res.evidence_id, 1)
    assert row == {
        "ts": utc(2023, 11, 14, 22, 13, 20), "host": "node7", "gpu_index": 1,
        "gpu_uuid": "GPU-abc", "gpu_name": "NVIDIA A100", "mig_instance": None,
        "utilization_gpu_pct": 97.0, "utilization_mem_pct": None, "memory_used_mib": 30000.0,
        "memory_total_mib": None, "power_w": None, "temperature_c": None,
        "sm_clock_mhz": None, "mem_clock_mhz": None,
        "extra": {"job": "dcgm", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "0.93"},
        "evidence_id": res.evidence_id, "line_no": 1,
    }
    second = one(case, "gpu_samples", res.evidence_id, 2)
    assert second["ts"] == utc(2023, 11, 14, 22, 13, 35, 500000)
    assert second["memory_used_mib"] is None  # NaN
    assert_counts(case, res.evidence_id)


# ---------------------------------------------------------------------------------------
# bad input: rejects with file, line and reason; the good lines around them still load
# ---------------------------------------------------------------------------------------


def rejects_of(case, eid):
    rj = case.rejects(eid)
    return {r["line_no"]: r for r in rj.iter_rows(named=True)}


def test_bad_query_gpu_csv(case, tmp_path):
    text = ("timestamp, index, uuid, utilization.gpu [%], memory.used [MiB]\n"
            "2024/03/01 10:00:00.000, 0, GPU-a, 50 %, 100 MiB\n"
            "2024/03/01 10:00:01.000, 0, GPU-a, 50 %\n"                    # truncated
            "2024/03/01 10:00:02.000, 0, GPU-a, lots %, 100 MiB\n"         # bad number
            "2024/13/01 10:00:03.000, 0, GPU-a, 50 %, 100 MiB\n"           # bad time
            "2024/03/01 10:00:04.000, 0, GPU-a, 50 %, 100 MiB, extra\n"    # too many
            "\n"
            "timestamp, index, uuid, utilization.gpu [%], memory.used [MiB]\n"  # repeated
            "2024/03/01 10:00:05.000, 1, GPU-b, [Not Supported], 7 MiB\n")
    res = case.load(write(tmp_path, "q.csv", text)).files[0]
    assert (res.status, res.rows, res.rejects) == ("loaded", 2, 4)
    rj = rejects_of(case, res.evidence_id)
    assert set(rj) == {3, 4, 5, 6}
    assert rj[3]["path"].endswith("q.csv")
    assert "expected 5" in rj[3]["reason"] and "found 4" in rj[3]["reason"]
    assert "utilization.gpu" in rj[4]["reason"] and "'lots %'" in rj[4]["reason"]
    assert "timestamp" in rj[5]["reason"] and "2024/13/01" in rj[5]["reason"]
    assert "found 6" in rj[6]["reason"]
    assert rj[6]["raw"] == "2024/03/01 10:00:04.000, 0, GPU-a, 50 %, 100 MiB, extra"
    ev = assert_counts(case, res.evidence_id)
    assert (ev["header_lines"], ev["blank_lines"], ev["lines_read"]) == (2, 1, 9)
    last = one(case, "gpu_samples", res.evidence_id, 9)
    assert last["utilization_gpu_pct"] is None and last["memory_used_mib"] == 7.0


def test_headerless_csv_needs_fields(case, tmp_path):
    text = ("2024/03/01 10:00:00.000, 0, GPU-a, 50 %\n"
            "2024/03/01 10:00:01.000, 0, GPU-a, 51 %\n")
    path = write(tmp_path, "noheader.csv", text)
    res = case.load(path).files[0]
    assert (res.format, res.rows, res.rejects) == ("nvidia-smi-query-gpu", 0, 2)
    assert all("options.extra['fields']" in r for r in case.rejects(res.evidence_id)["reason"])
    other = forensics.open_case(":memory:")
    res = load(other, path, extra={"fields": "timestamp,index,uuid,utilization.gpu [%]"})
    assert (res.rows, res.rejects) == (2, 0)
    row = one(other, "gpu_samples", res.evidence_id, 2)
    assert (row["gpu_index"], row["gpu_uuid"], row["utilization_gpu_pct"]) == (0, "GPU-a", 51.0)
    assert_counts(other, res.evidence_id)
    other.close()


def test_bad_compute_apps(case, tmp_path):
    text = ("pid, process_name, used_gpu_memory [MiB]\n"
            "123, /usr/bin/xmrig, 2000 MiB\n"
            "12x, /tmp/miner, 10 MiB\n"
            "456, python, [N/A]\n")
    res = case.load(write(tmp_path, "apps.csv", text)).files[0]
    assert (res.format, res.rows, res.rejects) == ("nvidia-smi-query-apps", 2, 1)
    rj = rejects_of(case, res.evidence_id)
    assert "pid" in rj[3]["reason"] and "'12x'" in rj[3]["reason"]
    assert one(case, "gpu_processes", res.evidence_id, 2)["process_name"] == "/usr/bin/xmrig"
    assert_counts(case, res.evidence_id)


def test_bad_dmon_and_dates(case, tmp_path):
    text = ("#Date       Time        gpu    pwr  gtemp     sm    mem   mclk   pclk\n"
            "#YYYYMMDD   HH:MM:SS    Idx      W      C      %      %    MHz    MHz\n"
            " 20240301   10:00:00      0     70     40      5      1   1215    300\n"
            " 20240301   10:00:01      0     70     40      5\n"
            " 20240301   10:00:02      0    hot     40      5      1   1215    300\n"
            " 20241301   10:00:03      0     70     40      5      1   1215    300\n"
            "#Date       Time        gpu    pwr  gtemp     sm    mem   mclk   pclk\n"
            "#YYYYMMDD   HH:MM:SS    Idx      W      C      %      %    MHz    MHz\n"
            " 20240301   10:00:04      1      -     41      6      2   1215    300\n")
    res = load(case, write(tmp_path, "dmon.txt", text), tz="America/New_York")
    assert (res.format, res.rows, res.rejects) == ("nvidia-smi-dmon", 2, 3)
    rj = rejects_of(case, res.evidence_id)
    assert "expected 9" in rj[4]["reason"] and "found 6" in rj[4]["reason"]
    assert "pwr" in rj[5]["reason"] and "'hot'" in rj[5]["reason"]
    assert "Date/Time" in rj[6]["reason"]
    row = one(case, "gpu_samples", res.evidence_id, 3)
    assert row["ts"] == utc(2024, 3, 1, 15, 0, 0) and row["power_w"] == 70.0
    assert one(case, "gpu_samples", res.evidence_id, 9)["power_w"] is None
    ev = assert_counts(case, res.evidence_id)
    assert ev["header_lines"] == 4 and ev["tz_assumed"] == "America/New_York"


def test_bad_pmon(case, tmp_path):
    text = ("# gpu         pid   type     sm    mem    command\n"
            "# Idx           #    C/G      %      %    name\n"
            "    0        abc     C     10      1    python\n"
            "    0       4242     C     10      1    xmrig --donate 0\n"
            "    0          -     -      -      -    -\n")
    res = case.load(write(tmp_path, "pmon.txt", text)).files[0]
    assert (res.format, res.rows, res.rejects) == ("nvidia-smi-pmon", 1, 1)
    assert "pid" in rejects_of(case, res.evidence_id)[3]["reason"]
    row = one(case, "gpu_processes", res.evidence_id, 4)
    assert (row["pid"], row["process_name"]) == (4242, "xmrig --donate 0")
    ev = assert_counts(case, res.evidence_id)
    assert ev["header_lines"] == 3  # two header lines and the no-process line


XML_DOC = """<?xml version="1.0" ?>
<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v12.dtd">
<nvidia_smi_log>
    <timestamp>{ts}</timestamp>
    <driver_version>535.54</driver_version>
    <attached_gpus>1</attached_gpus>
    <gpu id="00000000:01:00.0">
        <product_name>NVIDIA H100</product_name>
        <uuid>GPU-x</uuid>
        <fb_memory_usage><total>81559 MiB</total><used>{used}</used></fb_memory_usage>
        <processes>
            <process_info>
                <pid>777</pid><type>C</type><process_name>/tmp/.x/xmrig</process_name>
                <used_memory>1000 MiB</used_memory>
            </process_info>
        </processes>
    </gpu>
</nvidia_smi_log>
"""


def test_xml_concatenated_bad_and_truncated(case, tmp_path):
    good = XML_DOC.format(ts="Mon Mar  4 10:00:00 2024", used="100 MiB")
    bad = XML_DOC.format(ts="Mon Mar  4 10:00:05 2024", used="lots MiB")
    cut = XML_DOC.format(ts="Mon Mar  4 10:00:10 2024", used="5 MiB")[:300]
    path = write(tmp_path, "loop.xml", good + bad + cut)
    res = case.load(path).files[0]
    assert (res.format, res.rows, res.rejects) == ("nvidia-smi-xml", 2, 2)
    rj = rejects_of(case, res.evidence_id)
    n = good.count("\n")
    assert n + 7 in rj and "memory_used_mib" in rj[n + 7]["reason"]
    broken = [r for ln, r in rj.items() if ln > 2 * n]
    assert broken and "not well-formed" in broken[0]["reason"]
    row = one(case, "gpu_samples", res.evidence_id, 7)
    assert (row["ts"], row["memory_used_mib"], row["gpu_index"]) == (
        utc(2024, 3, 4, 10), 100.0, 0)
    proc = one(case, "gpu_processes", res.evidence_id, 12)
    assert (proc["pid"], proc["process_name"], proc["used_memory_mib"]) == (
        777, "/tmp/.x/xmrig", 1000.0)
    assert_counts(case, res.evidence_id)


def test_xml_refuses_entities(case, tmp_path):
    text = ('<?xml version="1.0" ?>\n<!DOCTYPE nvidia_smi_log [<!ENTITY a "aaaa">]>\n'
            "<nvidia_smi_log><timestamp>&a;</timestamp></nvidia_smi_log>\n")
    res = case.load(write(tmp_path, "bomb.xml", text)).files[0]
    assert (res.status, res.rows, res.rejects) == ("loaded", 0, 1)
    assert "entity" in case.rejects(res.evidence_id)["reason"][0]


def test_bad_prometheus_text_and_scrapes(case, tmp_path):
    lab = 'gpu="0",UUID="GPU-q",Hostname="n1"'
    text = ("# scrape at 2024-03-01T10:00:00Z\n"
            f"DCGM_FI_DEV_GPU_UTIL{{{lab}}} 10\n"
            f"DCGM_FI_DEV_POWER_USAGE{{{lab}}} 300.5\n"
            "this is not a sample\n"
            f"DCGM_FI_DEV_GPU_TEMP{{{lab}}} hot\n"
            'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID=GPU-q} 5\n'
            "DCGM_FI_DEV_GPU_UTIL 7\n"
            "\n"
            "# scrape at 2024-03-01T10:00:15Z\n"
            f"DCGM_FI_DEV_GPU_UTIL{{{lab}}} 20\n"
            f"DCGM_FI_DEV_GPU_UTIL{{{lab}}} 30 1709287230000\n")
    res = case.load(write(tmp_path, "scrapes.prom", text)).files[0]
    assert (res.format, res.rows, res.rejects) == ("prometheus-gpu-text", 3, 4)
    rj = rejects_of(case, res.evidence_id)
    assert "not a Prometheus sample line" in rj[4]["reason"]
    assert "'hot'" in rj[5]["reason"]
    assert "label set" in rj[6]["reason"]
    assert "no gpu, UUID" in rj[7]["reason"]
    rows = case.sql("SELECT ts, host, utilization_gpu_pct, power_w, line_no FROM gpu_samples "
                    "WHERE evidence_id = ? ORDER BY line_no", [res.evidence_id]).rows()
    assert rows == [(utc(2024, 3, 1, 10), "n1", 10.0, 300.5, 2),
                    (utc(2024, 3, 1, 10, 0, 15), "n1", 20.0, None, 10),
                    (utc(2024, 3, 1, 10, 0, 30), "n1", 30.0, None, 11)]
    assert_counts(case, res.evidence_id)


def test_bad_range_json(case, tmp_path):
    res = case.load(write(tmp_path, "broken.json",
                          '{"status":"success","data":{"resultType":"matrix","result":[')).files[0]
    assert (res.format, res.rows, res.rejects) == ("prometheus-range-json", 0, 1)
    assert "not valid JSON" in case.rejects(res.evidence_id)["reason"][0]
    assert_counts(case, res.evidence_id)
    doc = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "gpu": "0"},
         "values": [[1700000000, "5"], [1700000015, "x"]]},
        {"metric": {"gpu": "0"}, "values": [[1700000000, "1"]]},
    ]}}
    res = case.load(write(tmp_path, "bad.json", json.dumps(doc))).files[0]
    assert (res.rows, res.rejects) == (1, 2)
    rj = rejects_of(case, res.evidence_id)
    assert "'x'" in rj[2]["reason"] and "__name__" in rj[3]["reason"]
    assert_counts(case, res.evidence_id)


# ---------------------------------------------------------------------------------------
# fast paths against the careful ones: the same rows, rejects and notes
# ---------------------------------------------------------------------------------------


def _small_blocks(monkeypatch, module, size: int = 2048) -> None:
    """Make `module` read its files in blocks of about `size` bytes."""
    from forensics.loaders import reading

    monkeypatch.setattr(reading, "BLOCK_BYTES", size)
    monkeypatch.setattr(module, "iter_blocks", lambda path: reading.iter_blocks(path, size))


def _stored(case, eid, table="gpu_samples"):
    rows = case.sql(f"SELECT * EXCLUDE (evidence_id) FROM {table} WHERE evidence_id = ? "
                    "ORDER BY line_no", [eid]).to_dicts()
    rejects = [(r["line_no"], r["reason"]) for r in case.rejects(eid).sort("line_no")
               .iter_rows(named=True)]
    ev = assert_counts(case, eid)
    return rows, rejects, ev["notes"], ev["lines_read"], ev["blank_lines"], ev["header_lines"]


def test_query_gpu_csv_blocks_match_careful_reader(case, tmp_path, monkeypatch):
    # Markers and bad values in some blocks only (the checks run for the columns that have
    # them), an unknown field with and without values, a ragged line, a line that is not
    # UTF-8 (its block is read line by line), a repeated header: the streamed load stores
    # what reading every block line by line stores.
    from forensics.loaders.gpu import smi_csv

    header = ("timestamp, index, uuid, power.draw [W], memory.used [MiB], pci.bus_id, "
              "fan.speed [%]")
    lines = [header]
    for i in range(300):
        power = "[N/A]" if 100 <= i < 120 else f"{100 + i}.5 W"
        fan = "[Not Supported]" if i % 50 == 0 else f"{i % 100} %"
        lines.append(f"2024/03/01 10:{i // 60:02d}:{i % 60:02d}.000, {i % 8}, GPU-{i % 8}, "
                     f"{power}, {i} MiB, 00000000:{i % 8:02d}:00.0, {fan}")
    lines[50] = lines[50].replace("MiB", "KiB")          # bad number
    lines[60] = lines[60].rsplit(",", 1)[0]               # ragged line
    lines[130] = lines[131] = lines[199] = ""             # empty lines, one before a
    lines[200] = header                                   # repeated header
    lines[210] = lines[210].replace("GPU-", "GPU-\udcff")  # not UTF-8: careful reader
    lines[220] = lines[220].replace("2024/03/01", "2024/13/01")  # bad time
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    path = write(tmp_path, "blocks.csv", "")
    path.write_bytes(data)
    _small_blocks(monkeypatch, smi_csv)
    fast = _stored(case, load(case, path).evidence_id)
    monkeypatch.setattr(smi_csv, "_read", lambda data, n, first_line: None)
    path2 = write(tmp_path, "blocks2.csv", "")
    path2.write_bytes(data + b"\n")  # other bytes (dedupe), one more blank line
    careful = _stored(case, load(case, path2).evidence_id)
    assert fast[:3] == careful[:3]
    rows, rejects, notes, lines_read, blank, head = fast
    assert (lines_read, blank, head, len(rows)) == (301, 3, 2, 292)
    assert [n for n, _ in rejects] == [51, 61, 211, 221]
    assert rejects[2][1] == "not valid UTF-8 at byte 32"
    assert "memory.used: '49 KiB' is not a number" in rejects[0][1]
    assert any(n.endswith("NULL: [N/A] x20, [Not Supported] x6") for n in notes)
    by_line = {r["line_no"]: r for r in rows}
    assert by_line[102]["power_w"] is None and by_line[2]["power_w"] == 100.5
    assert json.loads(by_line[2]["extra"]) == {"pci.bus_id": "00000000:00:00.0"}
    assert json.loads(by_line[3]["extra"]) == {"pci.bus_id": "00000000:01:00.0",
                                               "fan.speed [%]": "1"}


def _range_doc(bad_label: bool = False) -> dict:
    odd = 'q"uo\\te ünï\tc✓'
    result = []
    for host in ("node-a", "node-b"):
        for g in range(3):
            for m, vals in (("DCGM_FI_DEV_GPU_UTIL", ["5", "+7", "NaN"]),
                            ("DCGM_FI_DEV_FB_USED", ["100", "1e3", "2.5"]),
                            ("DCGM_FI_DEV_POWER_USAGE", ["300.25", "Inf", "-1"])):
                labels = {"__name__": m, "Hostname": host, "gpu": str(g),
                          "UUID": f"GPU-{host}-{g}", "modelName": "NVIDIA H100",
                          "job": odd if g == 1 else "dcgm"}
                result.append({"metric": labels, "values": [
                    [1700000000 + 15 * k + (0.5 if k == 2 else 0), v]
                    for k, v in enumerate(vals)]})
    if bad_label:  # one series of a GPU disagrees about its labels: the general path
        result[0]["metric"]["pod"] = "p1"
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


@pytest.mark.parametrize("bad_label", [False, True])
def test_range_json_plain_pivot_matches_general(case, tmp_path, monkeypatch, bad_label):
    from forensics.loaders.gpu import prom_pivot

    used = []
    plain = prom_pivot._pivot_plain
    def spy(*args):
        out = plain(*args)
        used.append(out is not None)
        return out

    monkeypatch.setattr(prom_pivot, "_pivot_plain", spy)
    doc = json.dumps(_range_doc(bad_label))
    fast = _stored(case, load(case, write(tmp_path, "a.json", doc)).evidence_id)
    assert used == [not bad_label] and len(fast[0]) == 18
    monkeypatch.setattr(prom_pivot, "_pivot_plain", lambda *a: None)
    general = _stored(case, load(case, write(tmp_path, "b.json", doc + " ")).evidence_id)
    assert fast == general
    row = fast[0][1]
    assert (row["line_no"], row["utilization_gpu_pct"], row["power_w"]) == (2, 7.0, float("inf"))
    assert json.loads(fast[0][3]["extra"])["job"] == 'q"uo\\te ünï\tc✓'


@pytest.mark.parametrize("name", ["dcgm_exporter_t4_drv460.prom",
                                  "nvidia_gpu_exporter_h100_load.prom"])
def test_prometheus_text_plain_pivot_matches_general(case, monkeypatch, name):
    from forensics.loaders.gpu import prom_pivot

    path = corpus_file("gpu", name)
    tables = ("gpu_samples", "gpu_processes")
    first = load(case, path, extra={"ts": "2026-01-01T00:00:00Z"})
    fast = [_stored(case, first.evidence_id, t) for t in tables]
    monkeypatch.setattr(prom_pivot, "_pivot_plain", lambda *a: None)
    other = forensics.open_case(":memory:")
    try:
        res = load(other, path, extra={"ts": "2026-01-01T00:00:00Z"})
        general = [_stored(other, res.evidence_id, t) for t in tables]
    finally:
        other.close()
    assert fast == general


def test_query_gpu_csv_extra_values_that_look_like_null(case, tmp_path):
    # `:nullx` once made `{"pci.bus_id":":nullx"}` invalid JSON (the member-stripping regex
    # took the value for a `"key":null` member) and failed the whole file
    text = ("timestamp, index, pci.bus_id, pstate\n"
            "2024/03/01 10:00:00.000, 0, :nullx, P0\n"
            "2024/03/01 10:00:01.000, 0, :null, [N/A]\n"
            '2024/03/01 10:00:02.000, 0, x":null}, ":null\n'
            "\n"
            "2024/03/01 10:00:03.000, 0, 00000000:00:09.0, P8\n")
    res = case.load(write(tmp_path, "nullish.csv", text)).files[0]
    assert (res.status, res.rows, res.rejects) == ("loaded", 4, 0), res.message
    ev = assert_counts(case, res.evidence_id)
    assert (ev["lines_read"], ev["header_lines"], ev["blank_lines"]) == (6, 1, 1)
    stored = case.sql("SELECT line_no, extra::VARCHAR AS e FROM gpu_samples "
                      "WHERE evidence_id = ? ORDER BY line_no", [res.evidence_id]).rows()
    assert stored == [(2, '{"pci.bus_id":":nullx","pstate":"P0"}'),
                      (3, '{"pci.bus_id":":null"}'),
                      (4, '{"pci.bus_id":"x\\":null}","pstate":"\\":null"}'),
                      (6, '{"pci.bus_id":"00000000:00:09.0","pstate":"P8"}')]


@pytest.mark.parametrize("small", [False, True])
def test_query_csv_lines_not_utf8_are_rejected(case, tmp_path, monkeypatch, small):
    # bytes that are not UTF-8 once became U+FFFD in the stored text; now the line is a
    # reject naming the byte, and the lines around it (same block) load as written
    from forensics.loaders.gpu import smi_csv

    if small:  # the bad lines in blocks of their own, beside clean blocks
        _small_blocks(monkeypatch, smi_csv, 64)
    data = (b"timestamp, index, name, utilization.gpu [%], pci.bus_id\n"
            b"2024/03/01 10:00:00.000, 0, NVIDIA H100, 50 %, 00:01\n"
            b"2024/03/01 10:00:01.000, 0, NVIDIA H\xff100, 51 %, 00:01\n"      # text column
            b"2024/03/01 10:00:02.000, 0, NVIDIA H100, 52 %, 00:\xc3\n"        # extra, cut
            b"\n"
            b"2024/03/01 10:00:03.000, 0, NVIDIA H100, 5\xe2\x82 %, 00:01\n"  # number
            b"2024/03/01 10:00:04.000, 0, NVIDIA H100 \xc3\xa9, 54 %, 00:01\n")
    path = tmp_path / "latin.csv"
    path.write_bytes(data)
    res = case.load(str(path)).files[0]
    assert (res.status, res.rows, res.rejects) == ("loaded", 2, 3), res.message
    rj = rejects_of(case, res.evidence_id)
    assert {n: r["reason"] for n, r in rj.items()} == {
        3: "not valid UTF-8 at byte 36", 4: "not valid UTF-8 at byte 50",
        6: "not valid UTF-8 at byte 42"}
    assert all(r["path"].endswith("latin.csv") for r in rj.values())
    assert rj[3]["raw"] == "2024/03/01 10:00:01.000, 0, NVIDIA H\\xff100, 51 %, 00:01"
    ev = assert_counts(case, res.evidence_id)
    assert (ev["lines_read"], ev["header_lines"], ev["blank_lines"]) == (7, 1, 1)
    good = case.sql("SELECT line_no, gpu_name, utilization_gpu_pct, extra::VARCHAR AS e "
                    "FROM gpu_samples WHERE evidence_id = ? ORDER BY line_no",
                    [res.evidence_id]).rows()
    assert good == [(2, "NVIDIA H100", 50.0, '{"pci.bus_id":"00:01"}'),
                    (7, "NVIDIA H100 \u00e9", 54.0, '{"pci.bus_id":"00:01"}')]


def _compact(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _range_variant(kind: str) -> str:
    """A compact range document, changed so one pair (or the layout) is off the fast shape."""
    doc = _range_doc()
    values = doc["data"]["result"][4]["values"]
    text = _compact(doc)
    if kind == "plain":
        return text
    if kind == "empty-series":  # a series without pairs is still a series
        doc["data"]["result"][2]["values"] = []
        return _compact(doc)
    if kind == "pretty":
        return json.dumps(doc, indent=1)
    changes = {"quote": 'a"b', "backslash": "a\\b", "empty": "", "brackets": "]]",
               "separator": '"],[', "comma": "1,5", "tab": "a\tb", "unicode": "ünï"}
    if kind in changes:
        values[1][1] = changes[kind]
    elif kind == "number":
        values[1][1] = 5
    elif kind == "null":
        values[1] = None
    elif kind == "triple":
        values[1].append("x")
    elif kind == "float-time":
        values[1][0] = 1700000015.25
    elif kind == "exp-time":
        return text.replace("[1700000015,", "[1.700000015e9,", 1)
    elif kind == "zero-time":
        return text.replace("[1700000015,", "[1700000015.100,", 1)
    elif kind in ("neg-time", "lead-zero", "no-comma"):
        new = {"neg-time": "[-5,", "lead-zero": "[01700000015,", "no-comma": "[1700000015"}
        return text.replace("[1700000015,", new[kind], 1)
    elif kind == "big-time":  # past the whole-seconds check's range: read by pattern
        return text.replace("[1700000015,", "[9999999999,")
    elif kind == "label-named-values":
        doc["data"]["result"][0]["metric"]["values"] = "[[1,2]]"
    elif kind == "label-order":
        result = doc["data"]["result"]
        result[0]["metric"] = {"zz": "1", **result[0]["metric"]}
        result[1]["metric"]["aa"] = "2"
    elif kind == "not-success":
        doc["status"] = "error"
    elif kind == "dup-ts":  # a time twice in one series: a repeat row
        doc["data"]["result"][0]["values"].append([1700000000, "9"])
    elif kind == "reversed":  # times not increasing: repeats are looked for the dear way
        doc["data"]["result"][3]["values"].reverse()
    elif kind == "dup-series":  # two series of one GPU and metric (job differs)
        twin = json.loads(json.dumps(doc["data"]["result"][0]))
        twin["metric"]["job"] = "other"
        doc["data"]["result"].append(twin)
    return _compact(doc)


_FAST_KINDS = {"plain", "empty-series", "unicode", "float-time", "comma", "label-order",
               "dup-ts", "reversed", "dup-series", "big-time"}


@pytest.mark.parametrize("kind", [
    "plain", "empty-series", "pretty", "quote", "backslash", "empty", "brackets", "separator",
    "comma", "tab", "unicode", "number", "null", "triple", "float-time", "exp-time",
    "zero-time", "label-named-values", "label-order", "not-success", "dup-ts", "reversed",
    "dup-series", "neg-time", "lead-zero", "no-comma", "big-time"])
def test_range_json_split_read_matches_whole(case, tmp_path, monkeypatch, kind):
    # the values arrays read as text (prom_values) store exactly what reading the whole
    # document with polars' JSON reader stores: rows, extra text, rejects with raw text,
    # notes and counts; documents off the fast shape are read whole
    from forensics.loaders.gpu import prom_values

    used = []
    real = prom_values.read

    def spy(spans):
        out = real(spans)
        used.append(out is not None)
        return out

    def stored(eid):
        raw = case.sql("SELECT line_no, raw FROM rejects WHERE evidence_id = ? ORDER BY "
                       "line_no", [eid]).rows()
        extra = case.sql("SELECT line_no, extra::VARCHAR FROM gpu_samples WHERE "
                         "evidence_id = ? ORDER BY line_no", [eid]).rows()
        return _stored(case, eid), raw, extra

    text = _range_variant(kind)
    monkeypatch.setattr(prom_values, "MIN_BYTES", 0)  # small documents are read whole
    monkeypatch.setattr(prom_values, "read", spy)
    split = stored(load(case, write(tmp_path, "a.json", text)).evidence_id)
    assert any(used) == (kind in _FAST_KINDS)
    monkeypatch.setattr(prom_values, "split", lambda data: None)
    whole = stored(load(case, write(tmp_path, "b.json", text + "\n")).evidence_id)
    if kind == "label-order":
        # label sets that differ between series: polars' inferred key order is not stable
        # from one read to the next (whole or split alike), so compare the keys as sets
        split, whole = _keys_as_sets(split), _keys_as_sets(whole)
    assert split == whole
    if kind == "plain":
        assert len(split[0][0]) == 18 and split[2][0][1] == '{"job":"dcgm"}'
    if kind in ("dup-ts", "dup-series"):
        assert sum("scrape_repeat" in t for _, t in split[2]) == (1 if kind == "dup-ts" else 3)
    if kind == "label-order":
        assert split[2][0][1] == sorted({"job": "dcgm", "zz": "1", "aa": "2"}.items())


def _keys_as_sets(stored: tuple) -> tuple:
    """`stored` of the split-read test with every `extra` text as sorted (key, value) pairs."""
    def norm(text):
        return sorted(json.loads(text).items())
    (rows, *rest), raw, extra = stored
    rows = [{**r, "extra": norm(r["extra"])} for r in rows]
    return (rows, *rest), raw, [(n, norm(t)) for n, t in extra]


def test_range_json_extra_lists_labels_sorted_by_name(case, tmp_path):
    """Series with different label sets: polars' inferred key order is not the document's
    and has changed between reads of one file; `extra` lists labels by name, as Prometheus
    keeps them, so one file always stores one text."""
    result = []
    for g, more in enumerate(({"zone": "z1", "pod": "p0"}, {"alpha": "a", "zone": "z2"},
                              {"pod": "p2", "beta": "b"})):
        labels = {"__name__": "DCGM_FI_DEV_GPU_UTIL", "zone_": "x", **more, "gpu": str(g),
                  "UUID": f"GPU-{g}", "Hostname": "node7"}
        result.append({"metric": labels, "values": [[1700000000, str(10 + g)]]})
    doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    res = case.load(write(tmp_path, "labels.json", json.dumps(doc))).files[0]
    assert (res.status, res.rows, res.rejects) == ("loaded", 3, 0)
    texts = case.sql("SELECT gpu_index, extra::VARCHAR AS e FROM gpu_samples "
                     "WHERE evidence_id = ? ORDER BY gpu_index", [res.evidence_id]).rows()
    keys = [list(json.loads(text)) for _, text in texts]
    assert keys == [["pod", "zone", "zone_"], ["alpha", "zone", "zone_"],
                    ["beta", "pod", "zone_"]]


def test_lines_not_utf8_are_rejects_in_pmon_and_prometheus_text(case, tmp_path):
    """A process name or label value that is not UTF-8 is a reject naming the byte, not
    text with replacement characters the file does not hold; the other lines load."""
    pmon = (b"# gpu         pid   type     sm    mem    command\n"
            b"# Idx           #    C/G      %      %    name\n"
            b"    0        4242     C     10      1    xmr\xffig\n"
            b"    0        4243     C     10      1    python\n")
    (tmp_path / "pmon.txt").write_bytes(pmon)
    res = case.load(tmp_path / "pmon.txt").files[0]
    assert (res.format, res.rows, res.rejects) == ("nvidia-smi-pmon", 1, 1)
    rj = rejects_of(case, res.evidence_id)[3]
    assert rj["reason"] == "not valid UTF-8 at byte 44" and rj["raw_bytes"] == 47
    assert one(case, "gpu_processes", res.evidence_id, 4)["process_name"] == "python"
    assert_counts(case, res.evidence_id)
    prom = (b"# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n"
            b'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",Hostname="n1",pod="p\xfe"} 97\n'
            b'DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",Hostname="n1"} 12\n')
    (tmp_path / "scrape.prom").write_bytes(prom)
    res = load(case, tmp_path / "scrape.prom", extra={"ts": "2026-01-01T00:00:00Z"})
    assert (res.format, res.rows, res.rejects) == ("prometheus-gpu-text", 1, 1)
    assert rejects_of(case, res.evidence_id)[2]["reason"].startswith("not valid UTF-8")
    assert one(case, "gpu_samples", res.evidence_id, 3)["utilization_gpu_pct"] == 12.0
    assert_counts(case, res.evidence_id)
    texts = case.sql("SELECT string_agg(coalesce(extra::VARCHAR, ''), '') FROM gpu_samples"
                     ).item() or ""
    assert "\ufffd" not in texts

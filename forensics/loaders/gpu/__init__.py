"""GPU telemetry formats: nvidia-smi (CSV, dmon/pmon, XML), DCGM / Prometheus exporters.

Every format fills `gpu_samples` (one row per GPU per sample) and/or `gpu_processes` (one row
per process per sample); `common` holds the shared column mapping, markers, units and times.
"""

from forensics.loaders.gpu.capture import NvidiaSmiCapture
from forensics.loaders.gpu.prometheus import PrometheusRangeJson, PrometheusText
from forensics.loaders.gpu.smi_csv import NvidiaSmiQueryApps, NvidiaSmiQueryGpu
from forensics.loaders.gpu.smi_monitor import NvidiaSmiDmon, NvidiaSmiPmon
from forensics.loaders.gpu.smi_xml import NvidiaSmiXml

__all__ = ["NvidiaSmiCapture", "NvidiaSmiDmon", "NvidiaSmiPmon", "NvidiaSmiQueryApps",
           "NvidiaSmiQueryGpu", "NvidiaSmiXml", "PrometheusRangeJson", "PrometheusText"]

"""The fleet scan: which endpoints are broken right now, across regions and accounts, and why.

- :mod:`.scan`: accounts (assumed roles) × regions, bounded thread pools, partial results (:func:`scan`);
- :mod:`.endpoint`: one endpoint, judged from diagnose's facts, the log catalogue and the backlog;
- :mod:`.metrics`: backlog and recent errors of many endpoints in few GetMetricData calls;
- :mod:`.report`: ``scan.json`` and ``scan.csv``;
- :mod:`.schedule`: the SageMaker pipeline definition of a recurring scan (a notebook-job step).
"""

from .endpoint import SEVERITY_ORDER, EndpointScan
from .report import read_report, write_reports
from .scan import FleetScan, ScanBounds, ScopeFailure, scan

__all__ = ["SEVERITY_ORDER", "EndpointScan", "FleetScan", "ScanBounds", "ScopeFailure", "scan", "read_report",
           "write_reports"]

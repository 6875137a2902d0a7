"""Rendering for the notebooks: the lib returns data, this package shows it (HTML in Studio, text headless).

The only part of the lib that writes output; every function takes what a step returned (or its record) and
displays it. Nothing here computes a result or calls AWS. One module per notebook and the shared pieces:

- :mod:`.common`: progress lines, cards, tables, findings, the error card, the setup cell, HTML helpers;
- :mod:`.scan` (00), :mod:`.diagnose` (01: the endpoint, logs, archive, imports, load check, the verdict),
  :mod:`.rebuild` (02), :mod:`.deploy` (03), :mod:`.verify` (04: figures, pictures, the outage),
  :mod:`.cleanup` (05: the plan, the report, the confirmation widget).

Import the package under its own name, so IPython's ``display`` stays what it is:
``from endpoint_runbook import render as rb``.
"""

from .cleanup import cleanup_confirm, show_cleanup
from .common import (
                     HEADLESS_ENV,
                     card,
                     error_card,
                     findings,
                     headless,
                     health_label,
                     identity,
                     lines,
                     progress,
                     section,
                     setup,
                     table,
)
from .deploy import show_deploy
from .diagnose import (
                     kind_fields,
                     show_archive,
                     show_diagnosis,
                     show_endpoint,
                     show_imports,
                     show_load_check,
                     show_logs,
                     show_verdict,
)
from .rebuild import show_rebuild, show_rebuild_plan
from .scan import show_scan
from .verify import show_verify

__all__ = ["progress", "headless", "identity", "setup", "card", "table", "findings", "lines", "section",
           "error_card", "show_endpoint", "show_logs", "show_archive", "show_imports", "show_load_check",
           "show_verdict", "show_diagnosis", "show_rebuild_plan", "show_rebuild", "show_deploy", "show_verify",
           "show_cleanup", "cleanup_confirm", "health_label", "show_scan", "kind_fields", "HEADLESS_ENV"]

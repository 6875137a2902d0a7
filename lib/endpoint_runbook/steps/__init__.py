"""The steps: one thin orchestrator per notebook, named as the notebook (``01_diagnose`` → :mod:`.diagnose`, …).

Each reads the run's earlier records, calls the domains (:mod:`endpoint_runbook.endpoint`,
:mod:`~endpoint_runbook.invocation`, :mod:`~endpoint_runbook.archive`, :mod:`~endpoint_runbook.imports`,
:mod:`~endpoint_runbook.logs`, :mod:`~endpoint_runbook.serving`, :mod:`~endpoint_runbook.cleanup`) and writes
its own record. Rendering is :mod:`endpoint_runbook.render`; nothing here displays.
"""

"""Import resolution of the serving code, statically (``ast``; nothing is executed).

The SageMaker PyTorch toolkit imports ``code/<SAGEMAKER_PROGRAM>`` as a top-level module with the model
directory's ``code/`` and the model directory itself on the import path (``/opt/ml/model/code``,
``/opt/ml/model``), then calls ``model_fn`` and, per request, the request handlers. :func:`resolve_imports`
walks the code in that order (:mod:`.resolver`): module-level code at import, then what ``model_fn`` and the
request handlers reach through the calls it can follow; functions nothing reaches are latent. ``sys.path``
additions are evaluated where they are static (literal paths and paths built from ``__file__``,
``model_dir`` or ``SM_MODEL_DIR`` with ``os.path``/``pathlib``), mapping ``/opt/ml/model`` to the archive
root, and applied where they run, once, for resolution, the layout lint and the placement advice.

A failing import is guarded only when a handler that catches it completes (:mod:`.guards`); one that
re-raises or exits is no guard. A fallback import in ``except ImportError`` matters only if the primary fails.

Each import is resolved against, in the interpreter's order: the archive directories on the path in front
of the standard library, the standard library, the serving image's packages, ``code/requirements.txt``,
then directories the code appended at the back.
"""

from .closure import CompleteFix, complete_fix, lay_files
from .gate import archive_gate, exit_code, reconcile_layout
from .placement import Placement, place_missing, place_package, suggest_placement
from .records import (
    DEFAULT_IMAGE_MODULES,
    DIST_TO_MODULES,
    MODEL_DIR,
    ImportRecord,
    ImportReport,
    Phase,
    Status,
    SysPathEntry,
    requirement_modules,
)
from .report import placement_base, resolve_imports
from .requirements_edit import (
    RequirementsEdit,
    drop_requirements,
    imported_modules,
    install_offline,
    unimported,
)
from .sources import SourceCandidate, SourceIndex

__all__ = [
    "CompleteFix",
    "DEFAULT_IMAGE_MODULES",
    "DIST_TO_MODULES",
    "MODEL_DIR",
    "ImportRecord",
    "ImportReport",
    "Phase",
    "Placement",
    "RequirementsEdit",
    "Status",
    "SourceCandidate",
    "SourceIndex",
    "SysPathEntry",
    "archive_gate",
    "complete_fix",
    "drop_requirements",
    "install_offline",
    "exit_code",
    "imported_modules",
    "lay_files",
    "place_missing",
    "place_package",
    "placement_base",
    "reconcile_layout",
    "requirement_modules",
    "resolve_imports",
    "suggest_placement",
    "unimported",
]

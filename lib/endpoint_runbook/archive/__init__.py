"""The model archive: inventory, layout lint, safe extraction, streaming rebuild, packaging.

Every module streams from a binary file-like (a local file, an S3 ``StreamingBody``): nothing is written
whole to disk, nothing seeks, memory stays bounded whatever the archive size, and hard limits
(:class:`Limits`) stop a hostile archive with a named finding instead of a hang.

- :mod:`.tarstream` and :mod:`.gzappend`: the tar/gzip primitives (member scanning, deflate block splicing);
- :mod:`.inventory`: what an archive holds (:class:`ArchiveInventory`), stream/safety finding codes;
- :mod:`.lint`: the layout lint, the presence table and ``check-archive``;
- :mod:`.extract`: safe extraction;
- :mod:`.rebuild`: the streaming rebuild that adds members, existing ones byte-identical;
- :mod:`.package`: a correct, deterministic ``model.tar.gz`` from a model directory.

Finding codes (stable; see :data:`FINDING_CODES`):
  stream:  not-gzip, corrupt-gzip, truncated, not-tar, bad-header, empty-archive, missing-end-marker,
           trailing-garbage, too-many-members, too-large, gzip-bomb
  safety:  unsafe-path, link-outside, special-member, duplicate-member, non-utf8-name
  layout:  missing-code-dir, missing-entry-script, nested-top-folder, requirements-at-root,
           source-outside-import-path, bytecode-only

Uploading lives with the other S3 helpers in :mod:`endpoint_runbook.s3`.
"""

from .extract import CheckFiles, place_additions, safe_extract
from .gzappend import splice_available
from .inventory import FINDING_CODES, REFUSE_CODES, ArchiveInventory, Limits, inventory, inventory_s3
from .lint import check_archive, lint, presence_table
from .package import PackageResult, package_model
from .rebuild import RebuildResult, addition_note, default_skip, rebuild
from .tarstream import Member, has_isal

__all__ = [
    "FINDING_CODES",
    "REFUSE_CODES",
    "ArchiveInventory",
    "CheckFiles",
    "Limits",
    "Member",
    "PackageResult",
    "RebuildResult",
    "check_archive",
    "addition_note",
    "default_skip",
    "has_isal",
    "inventory",
    "inventory_s3",
    "lint",
    "package_model",
    "place_additions",
    "presence_table",
    "rebuild",
    "safe_extract",
    "splice_available",
]

"""Re-export only, for the importer this change could not touch (`ichkit/web/app.py`):
`MaskSource` lives in `ichkit.segment.source`, below the report, which reads it too. Delete this
file once it imports it from there."""

from ..segment.source import MaskSource

__all__ = ["MaskSource"]

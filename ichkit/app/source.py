"""Re-export only, for the two importers this change could not touch (`ichkit/web/app.py`,
`ICHSegment/ICHSegmentLib/logic.py`): `MaskSource` lives in `ichkit.segment.source`, below the
report, which reads it too. Delete this file once they import it from there."""

from ..segment.source import MaskSource

__all__ = ["MaskSource"]

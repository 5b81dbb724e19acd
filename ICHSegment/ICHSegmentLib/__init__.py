"""ICHSegment logic that is more than glue, free of Qt so pytest runs it against slicer-core.

`dependencies`, `jobmonitor` and `sampledata` serve all three ICH modules (they import them from
here; ICHSegment is their declared module dependency, so it is always loaded first).
"""

from .logic import SegmentResult, SegmentSceneLogic

__all__ = ["SegmentResult", "SegmentSceneLogic"]

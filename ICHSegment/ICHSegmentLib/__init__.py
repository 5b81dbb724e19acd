"""ICHSegment logic that is more than glue, free of Qt so pytest runs it against slicer-core.

`dependencies`, `jobmonitor`, `sampledata` and `widget` serve all three ICH modules (they import
them from here; ICHSegment is their declared module dependency, so it is always loaded first).
Nothing is imported eagerly: the module files import `widget` at load time, before the backend
(`ichkit`) may be installed.
"""

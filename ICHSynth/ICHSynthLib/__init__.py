"""ICHSynth logic that is more than glue, free of Qt so pytest runs it against slicer-core."""

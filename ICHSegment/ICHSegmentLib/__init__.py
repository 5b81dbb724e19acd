"""ICHSegment's own logic (segment into the scene, measurements, exports), free of Qt so pytest
runs it against slicer-core; what the three modules share is in `ICHToolkitLib`."""

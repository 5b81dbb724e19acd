"""The browser workstation (trame-slicer): view a CT, segment it, refine the mask, measure, predict
the risks with their Grad-CAM overlay, export.

`state`, `tools` and the helpers beside them are pure Python (testable without a browser or a
render window); `app`, `panel`, `editor`, `overlay` and `upload` import trame or trame-slicer
(`overlay`'s geometry functions are pure numpy).
"""

"""The browser workstation (trame-slicer): view a CT, segment it, refine the mask, measure, export.

`state` and the helpers beside it are pure Python (testable without a browser or a render
window); only `app` and `panel` import trame and slicer.
"""

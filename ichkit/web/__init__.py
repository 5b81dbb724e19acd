"""The browser workstation (trame-slicer): view a CT, segment it, refine the mask, measure, predict
the risks with their Grad-CAM overlay, export.

`state` and the helpers beside it are pure Python (testable without a browser or a render
window); only `app`, `panel` and `gradcam` (the heatmap layer) import trame or slicer.
"""

"""The browser workstation (trame-slicer): view a CT, segment it, refine the mask, measure, predict
the risks with their Grad-CAM overlay, export, save ground truth and fine-tune on it.

`state`, `tools`, `uncertainty` and the helpers beside them are pure Python (testable without a
browser or a render window); the page (`app`, `layout`, `panel`, `editor`, `overlay`), the scene
mirror and the controllers that edit or run jobs import trame or trame-slicer (`overlay`'s
geometry functions are pure numpy).
"""

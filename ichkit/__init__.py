"""ichkit: headless backend of the ICH toolkit (intracerebral hemorrhage on non-contrast head CT).

Every algorithm lives here and runs without Slicer; the Slicer modules and the web workstation
are thin shells over it. Nothing in this package imports Qt.
"""

import os

__version__ = "0.1.0"

# Read once by PyTorch's CPU allocator when torch loads: back large tensors with transparent huge
# pages. BLAST-CT's tiles allocate and free ~1 GB of activations each; faulting them in 4 KB pages
# took 6-7 of ~22 s of `ich segment` on 2 cores (bench/bench_blast_ct.py). A user's own setting wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

"""ichkit: headless backend of the ICH toolkit (intracerebral hemorrhage on non-contrast head CT).

Every algorithm lives here and runs without Slicer; the Slicer modules and the web workstation
are thin shells over it. Nothing in this package imports Qt.
"""

__version__ = "0.1.0"

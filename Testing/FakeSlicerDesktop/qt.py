"""Fake (stand-in for desktop Slicer's `qt` module, the PythonQt wrapping of Qt): the two widgets the
ICH self-tests create, reduced to the one property the modules' JobMonitor touches on each.

Only what the three module files and their self-tests use is here: `import qt` at import time, and
`qt.QProgressBar()` (`value`) and `qt.QLabel()` (`text`) at run time. Nothing is drawn; what a real
progress bar or label shows only desktop Slicer can show.
"""


class FakeQProgressBar:
    """Stand-in for QProgressBar: `value` (0-100)."""

    def __init__(self):
        self.value = 0


class FakeQLabel:
    """Stand-in for QLabel: `text`."""

    def __init__(self, text=""):
        self.text = text


QProgressBar = FakeQProgressBar
QLabel = FakeQLabel

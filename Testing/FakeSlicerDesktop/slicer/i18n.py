"""Fake (stand-in for desktop Slicer's `slicer.i18n`): `tr` returns the source text untranslated.

Desktop Slicer translates through the Qt application's installed translators; without that
application the source (English) text is what every translation would fall back to.
"""


def tr(text):
    return text

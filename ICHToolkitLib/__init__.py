"""What the three ICH Slicer modules share and none of them owns: the dependency installer, the
background-job monitor and the child's interpreter, the phantom sample data, and the widget
lifecycle. A plain package installed beside the modules (like `ichkit`), so no module depends on
another. Free of Qt; nothing is imported eagerly: the module files import `widget` at load time,
before the backend (`ichkit`) may be installed.
"""

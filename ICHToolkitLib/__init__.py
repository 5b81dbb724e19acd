"""What the three ICH Slicer modules share and none of them owns: the dependency installer, the
background-job monitor and the child's interpreter, the phantom sample data, a map over the CT
(`overlay`), the widget lifecycle and the self-tests' base class. A plain package installed
beside the modules (like `ichkit`), so no module depends on another. Free of Qt (`selftest` uses
only Slicer's test base class); nothing is imported eagerly: the module files import `widget` and
`selftest` at load time, before the backend (`ichkit`) may be installed.
"""

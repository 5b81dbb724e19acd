"""ICHPredict's Lib, one class per file: `logic` (free of Qt, so pytest runs it against
slicer-core: the jobs' command lines, the risk panel's texts and tables, overlays, radiomics), the
Qt wiring of the module panel, one class per section of the .ui (`risk_panel`, `radiomics_panel`;
they import nothing of the backend at load time), and `selftest`, the module's self-test scenario."""

"""ICHSegment's Lib, one class per file. Free of Qt, so pytest runs it against slicer-core: `logic`
(segment into the scene, measurements, the mask's source), `segmentation_job` and `finetune_job`
(the two background jobs, start to accept), `exports`. The Qt wiring of the module panel, one
class per section of the .ui: `run_panel`, `edit_watcher`, `outputs_panel`, `ground_truth_panel`
(they import nothing of the backend at load time); `selftest`, the module's self-test scenario.
What the three modules share is in `ICHToolkitLib`."""

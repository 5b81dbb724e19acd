"""The scenario of ICHSegment's self-test ("Reload and Test" in Slicer; Testing/test_slicer_selftests.py
runs it on slicer-core with a fake desktop): the real backend (`ich segment` with the default model) on
the registered phantom sample, checked against the phantom's truth. Here rather than in the
module file to keep that file a thin shell (the shared part: ICHToolkitLib/selftest.py).
"""

import json
import tempfile

import slicer

from ICHToolkitLib.selftest import JobSelfTest


class SegmentSelfTest(JobSelfTest):
    def scenario(self):
        # deferred: ICHSegment.py imports this file at load time, when only Slicer's own modules and the stdlib may load (Testing/test_slicer_lib.py)
        import numpy as np

        # deferred: ichkit may not be installed yet when Slicer loads the module
        from ichkit import scene
        from ICHSegmentLib.exports import export_segmentation
        from ICHSegmentLib.logic import expansion

        volume, files, truth = self.sample("ICHPhantomBaseline")
        run = self.logicClass().startSegmentation(volume, device="cpu")
        outcome, status, accepted = self.runJob(run.job, lambda result: run.accept(slicer.mrmlScene, result))
        self.assertEqual(outcome, "done", status)
        (out, _text), = accepted
        found = scene.segmentation_to_labelmap(out.segmentation, truth).array == 1
        dice = 2 * np.count_nonzero((truth.array == 1) & found) / (np.count_nonzero(truth.array == 1) + np.count_nonzero(found))
        self.assertGreater(dice, 0.5)
        truth_ml = json.loads(files["json"].read_text())["volumes_ml"]["IPH"]
        self.assertAlmostEqual(float(out.table.GetCellText(0, 2)), truth_ml, delta=0.3 * truth_ml)

        follow, _files, follow_labels = self.sample("ICHPhantomFollowUp")
        follow_seg = scene.labelmap_to_segmentation(slicer.mrmlScene, follow_labels, follow)
        verdict, _text = expansion((volume, out.segmentation), (follow, follow_seg))
        self.assertGreater(verdict["followup_ml"], verdict["baseline_ml"])
        paths = export_segmentation(volume, out.segmentation, tempfile.mkdtemp(dir=slicer.app.temporaryPath))
        self.assertTrue(all(p.is_file() for p in paths.values()))
        self.delayDisplay("ICHSegment test passed")

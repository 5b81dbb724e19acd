"""The scenario of ICHPredict's self-test ("Reload and Test" in Slicer; Testing/test_slicer_selftests.py
runs it on slicer-core with a fake desktop): the real backend (`ich predict` with the demo models, `ich readout`) on
the registered phantom sample, checked against the phantom's truth. Here rather than in the
module file to keep that file a thin shell (the shared part: ICHToolkitLib/selftest.py).
"""

import slicer

from ICHToolkitLib.selftest import JobSelfTest


class PredictSelfTest(JobSelfTest):
    def scenario(self):
        # deferred: ichkit may not be installed yet when Slicer loads the module
        from ichkit import scene
        from ICHPredictLib.logic import radiomics_table, show_result

        volume, _files, labels = self.sample("ICHPhantomBaseline")
        segmentation = scene.labelmap_to_segmentation(slicer.mrmlScene, labels, volume)
        logic = self.logicClass()
        outcome, status, results = self.runJob(logic.startPrediction(volume, segmentation, "cpu"))
        self.assertEqual(outcome, "done", status)
        table, text = show_result(slicer.mrmlScene, results[0], volume)
        self.assertEqual(table.GetNumberOfRows(), 0)  # the shipped classifiers are phantom-trained: hidden by default
        self.assertIn("hidden: demo model, not for clinical use", text)
        table, text = show_result(slicer.mrmlScene, results[0], volume, table, show_demo=True)
        self.assertGreaterEqual(table.GetNumberOfRows(), 2)
        for row in range(table.GetNumberOfRows()):
            low, p, high = (float(table.GetCellText(row, c)) for c in (2, 1, 3))
            self.assertTrue(0.0 <= low <= high <= 1.0 and 0.0 <= p <= 1.0)
        self.assertIn("Hematoma expansion", text)
        self.assertIn("DEMO MODEL, NOT FOR CLINICAL USE", text)  # and when shown, marked
        self.checkReadoutPanel(logic, volume, segmentation, labels, results[0])
        features = radiomics_table(slicer.mrmlScene, volume, segmentation, "shape")
        values = {features.GetCellText(r, 0): float(features.GetCellText(r, 1)) for r in range(features.GetNumberOfRows())}
        self.assertAlmostEqual(values["original_shape_VoxelVolume"] / 1000, float((labels.array == 1).sum()) * labels.voxel_volume_ml, places=3)
        self.delayDisplay("ICHPredict test passed")

    def checkReadoutPanel(self, logic, volume, segmentation, labels, prediction):
        """`ich readout` in the background (without the atlas it stops with the install command;
        the read-out is then made here with the location undetermined), the panel, the overlays."""
        # deferred: imports ichkit, which may not be installed yet when Slicer loads the module
        from ICHPredictLib.logic import PanelInputs, measures_of, panel_texts, show_overlays
        # deferred: ichkit may not be installed yet when Slicer loads the module
        from ichkit import scene
        from ichkit.report.build import run_readout_safely

        outcome, status, results = self.runJob(logic.startReadout(volume, segmentation))
        if outcome == "done":
            readout = results[0]["readout"]
        else:
            self.assertIn("blast-ct-atlas", status)
            readout = run_readout_safely(scene.node_to_volume(volume), labels)
        inputs = PanelInputs(measures_of(volume, segmentation), readout, prediction)
        top, classifiers, errors = panel_texts(inputs, {"age": "85", "gcs": "twelve"})
        self.assertTrue(top.startswith("Imaging read-out") and "Midline shift" in top and "ICH score: incomplete" in top)
        self.assertEqual(errors, "gcs: 'twelve' is not a number")
        self.assertIn("hidden: demo model", classifiers)
        nodes = show_overlays(slicer.mrmlScene, volume, segmentation, readout)
        self.assertEqual(nodes["signs"].GetClassName(), "vtkMRMLSegmentationNode")
        if readout["midline"]["status"] != "undetermined":
            self.assertEqual(nodes["ideal_line"].GetNumberOfControlPoints(), 2)

"""The widget lifecycle the three ICH module widgets share (Slicer's scripted-module template:
parameter node <-> GUI binding, scene close, background-job polling and cancel).

Needs only `vtk`, so the module files can import it before the backend is installed. A widget
using it provides `ui`, `timer`, `monitor`, `_update()` and `initializeParameterNode()`, and lists
this mixin before `ScriptedLoadableModuleWidget` so these methods take precedence. The Lib panels
a module widget delegates to (one per section of its .ui) read `parameters` and start their
background job with `startJob`.
"""

import vtk


class JobWidgetMixin:
    @property
    def parameters(self):
        """The module's parameter node wrapper (None while no scene is open): what the Lib panels read."""
        return self._parameterNode

    def cleanup(self):
        self.timer.stop()
        if self.monitor is not None:
            self.monitor.cancel()
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def setParameterNode(self, inputParameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._update)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._update)
            self._update()

    def startJob(self, monitor):
        """Show a started job (an ICHToolkitLib.jobmonitor.JobMonitor) until it ends: one job at a
        time per module, since each holds the CPU (or GPU) the others would need."""
        self.monitor = monitor
        self.timer.start()
        self._update()

    def onPoll(self):
        if not self.monitor.poll():
            self.timer.stop()
            self.monitor = None
            self._update()

    def onCancel(self):
        if self.monitor is not None:
            self.monitor.cancel()

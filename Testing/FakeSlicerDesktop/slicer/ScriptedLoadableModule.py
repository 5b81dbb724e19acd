"""Fake (stand-in for desktop Slicer's `slicer.ScriptedLoadableModule`): the four base classes of a
scripted module, as far as the ICH modules' import and self-tests need them.

Desktop Slicer's version imports `qt` and `ctk` and builds the module panel; here:

- ScriptedLoadableModuleTest is, as in Slicer, a `unittest.TestCase` whose `delayDisplay` logs
  through `slicer.util.delayDisplay` (the real one from slicer-core; below 400 ms, as for the
  self-tests' default 100 ms, it only logs and calls `slicer.app.processEvents()`, as in Slicer);
- ScriptedLoadableModuleLogic finds or creates the module's singleton parameter node
  (a real vtkMRMLScriptedModuleNode) in `slicer.mrmlScene`, as Slicer's does;
- ScriptedLoadableModule and ScriptedLoadableModuleWidget exist so the module files import;
  the module panel (Qt widgets, .ui files, Reload and Test) runs only in desktop Slicer, so the
  widget refuses to be built.
"""

import unittest as _unittest

import slicer as _slicer


class ScriptedLoadableModule:
    def __init__(self, parent):
        self.parent = parent
        self.moduleName = self.__class__.__name__


class ScriptedLoadableModuleWidget:
    def __init__(self, parent=None):
        raise NotImplementedError("Fake Slicer desktop: module widgets (the Qt panel) need desktop Slicer")


class ScriptedLoadableModuleLogic:
    def __init__(self, parent=None):
        self.moduleName = self.__class__.__name__
        if self.moduleName.endswith("Logic"):
            self.moduleName = self.moduleName[:-5]
        self.isSingletonParameterNode = True

    def getParameterNode(self):
        """The module's parameter node in the scene, created on first use."""
        scene = _slicer.mrmlScene
        if self.isSingletonParameterNode:
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node:
                if node.GetAttribute("ModuleName") != self.moduleName:
                    node.SetAttribute("ModuleName", self.moduleName)
                return node
        else:
            for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode")):
                node = scene.GetNthNodeByClass(i, "vtkMRMLScriptedModuleNode")
                if node.GetAttribute("ModuleName") == self.moduleName:
                    return node
        return scene.AddNode(self.createParameterNode())

    def createParameterNode(self):
        scene = _slicer.mrmlScene
        node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)  # owned by the Python variable
        if self.isSingletonParameterNode:
            node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(scene.GenerateUniqueName(self.moduleName))
        return node


class ScriptedLoadableModuleTest(_unittest.TestCase):
    def delayDisplay(self, message, requestedDelay=None, msec=None):
        """Slicer's rule: the `messageDelay` a test runner set, else the delay asked for, else 100 ms."""
        if hasattr(self, "messageDelay"):
            msec = self.messageDelay
        if msec is None:
            msec = requestedDelay
        if msec is None:
            msec = 100
        _slicer.util.delayDisplay(message, msec)

    def runTest(self):
        pass

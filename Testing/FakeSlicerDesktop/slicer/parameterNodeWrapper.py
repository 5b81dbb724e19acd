"""Fake (stand-in for desktop Slicer's `slicer.parameterNodeWrapper`): typed parameters stored in a
real vtkMRMLScriptedModuleNode, without the Qt GUI binding.

Desktop Slicer's package imports `qt` and its GUI connectors (ctk and qMRML widgets) on import,
so it cannot run without the Qt application. This stand-in keeps the part the ICH logic and
self-tests use: `@parameterNodeWrapper` turns the annotated class into a wrapper of a parameter
node with one property per annotation, defaults written on wrap, values checked on write (type,
`Choice`), and stored as Slicer's serializers store them (str/int/float/Path as text, bool as
"True"/"False", a node as a node reference). Only the types the ICH modules declare are supported;
another type raises TypeError. `connectGui` and the rest of the GUI binding exist only in desktop
Slicer.
"""

import pathlib as _pathlib
import typing as _typing

import slicer as _slicer


class Choice:
    """A value must be one of `choices`."""

    def __init__(self, choices):
        self.choices = list(choices)

    def validate(self, value):
        if value not in self.choices:
            raise ValueError(f"Value '{value}' is not in the choices {self.choices}")


class FakeParameter:
    """One annotated member: how it is checked, stored and read back."""

    def __init__(self, name, type_, validators, default):
        self.name, self.type, self.validators = name, type_, validators
        self.isNode = isinstance(type_, type) and issubclass(type_, _slicer.vtkMRMLNode)
        if not (self.isNode or type_ in (str, int, float, bool) or (isinstance(type_, type) and issubclass(type_, _pathlib.PurePath))):
            raise TypeError(f"Fake parameterNodeWrapper: no serializer for {name}: {type_}")
        if default is FakeParameter:  # no default given: the serializer's
            default = None if self.isNode else type_()
        self.default = default

    def check(self, value):
        if value is None and self.isNode:
            return
        allowed = (int, float) if self.type is float else self.type
        if not isinstance(value, allowed):
            raise TypeError(f"{self.name}: expected {self.type.__name__}, got {type(value).__name__}")
        for validator in self.validators:
            validator.validate(value)

    def write(self, parameterNode, value):
        self.check(value)
        if self.isNode:
            parameterNode.SetParameter(self.name, "")
            parameterNode.SetNodeReferenceID(self.name, value.GetID() if value is not None else None)
        elif self.type is bool:
            parameterNode.SetParameter(self.name, "True" if value else "False")
        else:
            parameterNode.SetParameter(self.name, str(value))

    def read(self, parameterNode):
        if not parameterNode.HasParameter(self.name):
            self.write(parameterNode, self.default)
        if self.isNode:
            return parameterNode.GetNodeReference(self.name)
        text = parameterNode.GetParameter(self.name)
        return text == "True" if self.type is bool else self.type(text)


def parameterNodeWrapper(classtype):
    """Class decorator: `Wrapper(parameterNode)` reads and writes the annotated members in the node."""
    parameters = {}
    for name, annotated in _typing.get_type_hints(classtype, include_extras=True).items():
        type_, validators = annotated, []
        if _typing.get_origin(annotated) is _typing.Annotated:
            type_, *validators = _typing.get_args(annotated)
        parameters[name] = parameter = FakeParameter(name, type_, validators, getattr(classtype, name, FakeParameter))
        setattr(classtype, name, property(lambda self, p=parameter: p.read(self.parameterNode),
                                          lambda self, value, p=parameter: p.write(self.parameterNode, value)))

    def __init__(self, parameterNode):
        self.parameterNode = parameterNode
        for parameter in parameters.values():
            if not parameterNode.HasParameter(parameter.name):
                parameter.write(parameterNode, parameter.default)

    classtype.__init__ = __init__
    classtype.allParameters = parameters
    return classtype

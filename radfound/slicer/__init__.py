"""GUI-free glue between RadFound and 3D Slicer's MRML scene.

Everything here runs with the full Slicer application and with ``slicer-core`` alone
(no ``qt``, no ``slicer.app``): turning volume nodes into a Study, assembling a
mammogram view set from the subject hierarchy, saving drafts as text / table /
markups nodes, the module logic classes, and the first-use dependency installer.
"""

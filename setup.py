"""Wheels carry the shipped model: ``Resources/`` (beside the package, where the checkout and the Slicer
extension keep it) is copied into the wheel as ``radfound/_resources``, which ``radfound.config`` uses
when there is no ``Resources/`` beside the package. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: What the runtime reads from Resources/: the shipped index, the install registry, the shipped models, the model kits
#: and the sample image.
SHIPPED = ("models.json", "registry.json", "models", "kits", "Samples")


class BuildWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's Resources/ in place
        source = Path(__file__).resolve().parent / "Resources"
        target = Path(self.build_lib) / "radfound" / "_resources"
        for name in SHIPPED:
            if (source / name).is_dir():
                shutil.copytree(source / name, target / name, dirs_exist_ok=True)
            elif (source / name).is_file():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, target / name)


setup(cmdclass={"build_py": BuildWithResources})

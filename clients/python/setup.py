"""Generates the arbiter.v1 stubs (generate.sh: protoc + grpc_python_plugin) before the package
is built, so an installed arbiter_client always carries stubs matching proto/."""

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithStubs(build_py):
    def run(self) -> None:
        subprocess.run(["sh", str(HERE / "generate.sh")], check=True)
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})

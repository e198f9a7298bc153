"""inspector_app: anomaly localization by iterative energy-based projection (Dehaene et al., ICLR 2020)."""

#: The one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic), `--version` prints it.
__version__ = "0.1.0"

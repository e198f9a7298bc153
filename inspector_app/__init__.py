"""inspector_app: anomaly localization by iterative energy-based projection (Dehaene et al., ICLR 2020)."""

__version__ = "0.1.0"

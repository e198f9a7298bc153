"""Qt views and controllers over the core (PySide6 + pyqtgraph). Never runs model code on the GUI thread."""

"""The standalone bundle's entry point (PyInstaller runs a script, not a package's ``__main__``)."""

import sys

from inspector_app.cli import main

if __name__ == "__main__":
    sys.exit(main())

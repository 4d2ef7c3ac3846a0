"""``python -m keruj_guest build MODULE.py [-o OUT.wasm]``."""

import sys

from .build import main

USAGE = "usage: python -m keruj_guest build MODULE.py [-o OUT.wasm] [--wit DIR] [-p DIR]..."

if len(sys.argv) < 2 or sys.argv[1] != "build":
    sys.exit(USAGE)
main(sys.argv[2:])

"""``python -m hyperlab``: the ``hyperlab`` command line."""
import sys

from hyperlab.cli.main import main

sys.exit(main())

"""``python -m hyperlab``: the ``hyperlab`` command line."""
import sys

try:
    from hyperlab.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while starting: one line, no traceback
    print("hyperlab: error: interrupted", file=sys.stderr)
    sys.exit(130)
sys.exit(main())

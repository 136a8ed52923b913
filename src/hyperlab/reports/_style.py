"""What the figures of :mod:`hyperlab.reports` share: pyplot on the Agg backend and how a
study's axis reads in a title."""
from __future__ import annotations

import os
import sys


def pyplot():
    """pyplot, selecting Agg first if no backend has been chosen by anyone."""
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt



def axis_name(axis: str) -> str:
    """A study's ``axis`` for the middle of a sentence: lower case, acronyms kept."""
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in axis.split())

"""``keras.regularizers``: ``L1``, ``L2``, ``L1L2`` and tf.keras's ``l1``, ``l2``, ``l1_l2``.

``l1_l2`` is tf.keras's function (``l1=0.01, l2=0.01``), which the tutorials call as
``l1_l2(0.01)``; in Keras 3 ``l1_l2`` is another name of ``L1L2`` (``l1=0.0, l2=0.0``), so
``l1_l2(0.01)`` there has no L2 term. ``L1L2(0.01)`` has none in either.
"""
from hyperlab.keras._api import reexport

__all__ = reexport(
    globals(),
    ("hyperlab.engine.regularizers", [
        "Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get",
    ]),
)

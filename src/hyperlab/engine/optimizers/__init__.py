"""Keras 3 optimizers as pure JAX update rules.

Each optimizer reproduces the float32 arithmetic of Keras 3 (``keras/src/optimizers/*.py``
and ``base_optimizer.py``, TensorFlow backend): the same formulas, operand order and epsilon
placement, plus the base-optimizer machinery (loss-scale unscaling, gradient accumulation,
clipping, decoupled weight decay, EMA of the weights) and the Keras 2 ``decay`` argument,
``lr = learning_rate / (1 + decay * iterations)``::

    opt = SGD(learning_rate=0.1, momentum=0.9)
    state = opt.init(params)
    params, state = opt.apply(params, grads, state)

The package: ``numerics`` (float32 arithmetic that rounds as Keras/TensorFlow does),
``stages`` (the steps around an update rule), ``base`` (``Optimizer``: the arguments every
optimizer takes, the state, the step) and ``rules`` (the seven optimizers).

Op by op (no ``jit``) the public Keras reference trajectories are reproduced bit for bit, except
that norms for ``clipnorm``/``global_clipnorm`` sum in XLA's order rather than Eigen's (an ulp).
Under ``jit`` on FMA hardware XLA also fuses ``a * b + c``: an ulp per operation, which
cancellation can grow (to ~1e-6 relative over 25 reference steps). On CPU,
``XLA_FLAGS=--xla_cpu_max_isa=AVX`` turns that fusion off.
"""

from __future__ import annotations

from hyperlab.engine.optimizers.base import LearningRate, Optimizer, is_schedule
from hyperlab.engine.optimizers.rules import (SGD, Adadelta, Adagrad, Adam, Adamax, Nadam,
                                              RMSprop)

__all__ = ["Optimizer", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam",
           "LearningRate", "is_schedule", "get"]

_OPTIMIZERS: dict[str, type[Optimizer]] = {
    c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adadelta, Adam, Adamax, Nadam)
}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from a Keras name (case-insensitive, Keras defaults) or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Valid names (case-insensitive): "
        f"{', '.join(sorted(_OPTIMIZERS))}, or pass an Optimizer instance."
    )

"""Science built in: measurements that answer practitioners' questions with seeds and
intervals, on top of the studies.

- :func:`lr_sweep` -- learning-rate sensitivity: constant rates × seeds, the stable region,
  the divergence edge, a recommended rate with its bootstrap interval, and the one-run range
  test per seed beside it (:mod:`hyperlab.science.sensitivity` holds the analysis);
- :func:`sharpness`, :func:`sharpness_curve` -- the top Hessian eigenvalue of the training
  loss by Hessian-vector-product power iteration, for a model or at chosen epochs of a run,
  against :func:`stability_threshold` (2/η);
- :func:`noise_scale`, :func:`noise_scale_curve` -- the simple gradient noise scale
  tr(Σ)/|G|² from per-example gradients, for a model or per epoch over seeds;
- :func:`critical_batch` -- the critical batch size: steps to a target per batch size (the
  rate tuned per batch size when the study sweeps it) and the fit of
  S = S_min (1 + B_noise/B) with seed-bootstrap intervals;
- :func:`scaling_rule` -- the scaling-rule referee: the best rate per batch size of a
  batch size × rate grid and the exponent α of lr* ∝ B^α with a seed-bootstrap interval;
- :func:`diagnose` -- the doctor for a run that does not learn: one training run with
  diagnostics, and a finding per pathology (mismatched output and loss, NaN, chance-level
  loss, dead ReLUs, gradient spikes, sharpness above 2/η);
- :func:`how_many_epochs` -- per seed, the plateau and the onset of overfitting, and an
  EarlyStopping calibrated to the validation accuracy's epoch-to-epoch noise.

This package sits above :mod:`hyperlab.studies` and :mod:`hyperlab.reports`; nothing below
imports it.
"""
from hyperlab.science.critical import CriticalBatch, critical_batch, fit_critical
from hyperlab.science.doctor import Diagnosis, Finding, diagnose
from hyperlab.science.epochs import EpochsAdvice, how_many_epochs
from hyperlab.science.noise import NoiseScale, NoiseScaleCurve, noise_scale, noise_scale_curve
from hyperlab.science.scaling import ScalingRule, scaling_rule
from hyperlab.science.sharpness import (Sharpness, sharpness, sharpness_curve,
                                        stability_threshold, top_eigenvalue)
from hyperlab.science.sweep import LRSweep, RangeTest, log_rates, lr_sweep

__all__ = ["lr_sweep", "log_rates", "LRSweep", "RangeTest", "sharpness", "sharpness_curve",
           "stability_threshold", "top_eigenvalue", "Sharpness", "noise_scale",
           "noise_scale_curve", "NoiseScale", "NoiseScaleCurve", "how_many_epochs",
           "EpochsAdvice", "critical_batch", "fit_critical", "CriticalBatch", "scaling_rule", "ScalingRule", "diagnose", "Diagnosis", "Finding"]

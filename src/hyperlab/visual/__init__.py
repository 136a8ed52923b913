"""Pictures of training: animations of a classifier learning, optimizer paths on loss
landscapes, reference figures of activations and learning-rate schedules.

- :func:`animate` (module :mod:`hyperlab.visual.animate`): a GIF/MP4 of decision regions,
  weights, updates and curves as training proceeds, one column per optimizer;
- :mod:`hyperlab.visual.landscape`: optimizers on test functions (:func:`run_paths`,
  :func:`landscape_figure`, :func:`landscape_animation`);
- :mod:`hyperlab.visual.reference`: :func:`activations_figure`, :func:`schedule_figure`.

matplotlib is used on the Agg backend unless you chose another; nothing opens a window.
"""
from hyperlab.visual.animate import Animation, Recording, animate, record, render
from hyperlab.visual.landscape import (LANDSCAPES, Landscape, PathResult, format_table,
                                       landscape_animation, landscape_figure, run_paths)
from hyperlab.visual.reference import (activation_curves, activations_figure, schedule_curves,
                                       schedule_figure)

__all__ = ["animate", "record", "render", "Animation", "Recording",
           "LANDSCAPES", "Landscape", "PathResult", "run_paths", "format_table",
           "landscape_figure", "landscape_animation",
           "activation_curves", "activations_figure", "schedule_curves", "schedule_figure"]

"""The live lab: ``hyperlab lab`` serves a local web page to look at studies, edit their
knobs and train them, on the same store and statistics as the command line.

* :mod:`hyperlab.lab.views` -- the JSON the page draws, read from the store on every request;
* :mod:`hyperlab.lab.jobs` -- one training run at a time, in a background thread, through the
  study runner (only what the store lacks trains), with progress and cancel;
* :mod:`hyperlab.lab.playground` -- a small network trained on a 2-D dataset from the page,
  a few seeds at once, with its decision regions over the epochs (nothing is stored);
* :mod:`hyperlab.lab.app` -- the routes (Starlette), the token check and the progress stream;
* :mod:`hyperlab.lab.offline` -- the same page as offline files, read-only: ``hyperlab lab
  --export``, ``hyperlab report`` and a folder of study pages with an index.

The charts use Plotly (its ``basic`` bundle, MIT, vendored under ``static/vendor``): one
file that works offline, whose scatter traces give what the curves need without any code of
ours -- hover values, a legend that toggles a value's seeds, median and band together (legend
groups), zoom, and log/linear axes switched in place -- and whose figures are plain data,
so the same JSON can be embedded in an offline page. Vega-Lite would need three files
(Vega, Vega-Lite, vega-embed) and expresses legend toggles and axis switches as selections
and parameters, which is more code for the same page.

Nothing here is imported by ``import hyperlab`` or ``hyperlab --help``: the command imports
the web stack (``pip install 'hyperlab[lab]'``) only when it starts the server; the offline
pages need no web stack.
"""

// The live lab's page: the studies list (#/), one study (#/study/NAME?KNOBS) and the
// playground (#/playground: two setups side by side on a 2-D dataset), drawn
// from the JSON of hyperlab/lab/app.py with Plotly. Text is set with textContent only.
// In an offline page (hyperlab/lab/offline.py) the JSON is embedded and the form hidden;
// there `start` names the study shown at #/, `pages` maps a study to its own page and
// `home` is the index page's address.
"use strict";

const TOKEN = document.querySelector('meta[name="lab-token"]')?.content;
const EMBEDDED = (node => node && JSON.parse(node.textContent))(
  document.getElementById("lab-data"));
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const PLOT_CONFIG = {responsive: true, displaylogo: false};
const X_TITLES = {epochs: "epoch", updates: "weight updates", examples: "examples seen",
                  time: "wall time (s; each run's time spread evenly over its epochs)"};
const main = document.getElementById("main");
const SCALE = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];   // viridis
const view = {metric: null, x: "epochs", y: "linear", measure: 0, data: null,
              hidden: new Set(),    // seeds hidden from the curves
              overlay: [null, null]};   // the two curves overlaid: "value" or "value|seed"
let stream = null;            // the EventSource of the job being followed
let watch = null;             // the timer that looks for runs stored by another process
const WATCH_MS = 4000;

// ---------------------------------------------------------------------------- helpers
function url(path, params = {}) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  u.searchParams.set("token", TOKEN);
  return u;
}

function embedded(path) {
  if (path === "/api/studies") return {ok: true, status: 200, body: EMBEDDED.list};
  if (path === "/api/jobs/current") return {ok: true, status: 200, body: null};
  const name = decodeURIComponent(path.split("/")[3]);
  const body = EMBEDDED.studies[name];
  return body ? {ok: true, status: 200, body}
              : {ok: false, status: 404, body: {error: `${name} is not in this page`}};
}

async function call(path, params = {}, options = {}) {
  if (EMBEDDED) return embedded(path);
  const response = await fetch(url(path, params), options);
  return {ok: response.ok, status: response.status, body: await response.json()};
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

function show(...nodes) {                 // the page's content: nodes, nulls left out
  main.replaceChildren(...nodes.filter(n => n !== null && n !== undefined));
}

function color(i, alpha = 1) {
  const hex = COLORS[i % COLORS.length];
  const [r, g, b] = [1, 3, 5].map(k => parseInt(hex.slice(k, k + 2), 16));
  return `rgba(${r},${g},${b},${alpha})`;
}

function median(xs) {
  const s = xs.filter(x => x !== null).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function fmt(x, digits = 4) {
  return x === null || x === undefined ? "–" : Number(x.toPrecision(digits)).toString();
}

function shade(t) {                       // t in [0, 1] on SCALE, as rgb()
  const k = Math.min(SCALE.length - 2, Math.floor(t * (SCALE.length - 1)));
  const f = t * (SCALE.length - 1) - k;
  const [a, b] = [SCALE[k], SCALE[k + 1]].map(h => [1, 3, 5].map(j => parseInt(h.slice(j, j + 2), 16)));
  return `rgb(${a.map((x, j) => Math.round(x + f * (b[j] - x))).join(",")})`;
}

function seconds(s) {
  if (s === null || s === undefined) return "";
  return s < 90 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

// ---------------------------------------------------------------------------- routing
function route() {
  const hash = location.hash || "#/";
  if ((hash === "#/" || hash === "#") && EMBEDDED && EMBEDDED.start) {
    showStudy(EMBEDDED.start, {});
  } else if (hash.startsWith("#/playground") && !EMBEDDED) {
    showPlayground();
  } else if (hash.startsWith("#/study/")) {
    const [name, query] = hash.slice("#/study/".length).split("?");
    showStudy(decodeURIComponent(name), Object.fromEntries(new URLSearchParams(query || "")));
  } else {
    showList();
  }
}

function studyHash(name, knobs) {
  const query = new URLSearchParams(knobs).toString();
  return `#/study/${encodeURIComponent(name)}${query ? "?" + query : ""}`;
}

// ---------------------------------------------------------------------------- the list
function leave() {
  if (stream) { stream.close(); stream = null; }
  clearInterval(watch);
}

async function showList() {
  leave();
  const {body} = await call("/api/studies");
  const pages = (EMBEDDED && EMBEDDED.pages) || {};
  const rows = body.studies.map(s => el("tr", {},
    el("td", {}, el("a", {href: pages[s.name] || studyHash(s.name, {})}, s.name),
       s.builtin ? null : el("span", {class: "tag"}, "file")),
    el("td", {}, s.question || s.description,
       s.answer ? el("details", {}, el("summary", {}, "answer"), s.answer)
                : el("div", {class: "note"}, s.stored ? "not every value has a stored run yet"
                                                      : "not run yet")),
    el("td", {}, s.leading ? s.leading.title : ""),
    el("td", {}, s.leading ? s.leading.best : ""),
    el("td", {class: "num"}, leadingText(s.leading)),
    el("td", {class: "num"}, `${s.stored} / ${s.planned}`)));
  show(
    EMBEDDED ? null : el("p", {class: "note"}, el("a", {href: "#/playground", id: "to-playground"},
      "Playground"), ": train a small network on a 2-D dataset, two setups side by side."),
    el("h1", {}, "Studies"),
    el("table", {class: "studies"},
       el("thead", {}, el("tr", {}, el("th", {}, "study"),
                          el("th", {}, "question (answer from the stored runs)"),
                          el("th", {}, "leading measure"), el("th", {}, "best value"),
                          el("th", {}, "its estimate (interval), seeds"),
                          el("th", {}, "runs stored"))),
       el("tbody", {}, rows)),
    body.others.length ? el("p", {class: "note"},
      "Also in the store (give their study files to 'hyperlab lab' to open them): ",
      body.others.map(o => `${o.name} (${o.runs} runs)`).join(", ")) : null);
}

function leadingText(m) {
  if (!m) return "";
  const k = m.percent ? 100 : 1;
  const unit = m.percent ? " %" : m.unit ? ` ${m.unit}` : "";
  const scaled = x => fmt(x === null ? null : x * k, 3);
  return `${scaled(m.estimate)}${unit} (${scaled(m.low)} to ${scaled(m.high)}), n = ${m.n}`;
}

// ---------------------------------------------------------------------------- a study
async function showStudy(name, knobs) {
  leave();
  let answer = await call(`/api/studies/${encodeURIComponent(name)}`, knobs);
  let problem = null;
  if (answer.status === 400) {            // show the study as it is, the message by the field
    problem = answer.body;
    answer = await call(`/api/studies/${encodeURIComponent(name)}`);
  }
  if (!answer.ok) {
    show(el("p", {class: "error"}, answer.body.error));
    return;
  }
  const data = answer.body;
  if (view.data === null || view.data.name !== data.name) {
    view.hidden.clear();
    view.overlay = data.values.slice(0, 2).map(v => v.label);
  }
  view.data = data;
  if (!data.metrics.includes(view.metric)) view.metric = data.metrics[0] || null;
  if (view.measure >= data.measures.length) view.measure = 0;
  show(
    el("h1", {}, data.name),
    el("p", {class: "description"}, data.description),
    data.question ? el("p", {class: "question"}, data.question) : null,
    el("section", {id: "answer"}),
    studyForm(data, problem ? knobs : null),
    el("section", {id: "results"},
       el("div", {id: "measure-box"},
          el("div", {class: "controls"},
             el("label", {}, "measure ", el("select", {id: "measure", onchange: e => {
               view.measure = Number(e.target.value); drawMeasure(); }}))),
          el("div", {id: "measure-plot", class: "plot"}),
          el("p", {class: "note"}, "Every seed a dot; the diamond is the estimate with its " +
             "interval (black: the best value). Hover for the verdict of each value.")),
       el("div", {class: "controls"},
          el("label", {}, "metric ", el("select", {id: "metric", onchange: e => {
            view.metric = e.target.value; drawCurves(); }})),
          el("label", {}, " x axis ", select("x-axis", Object.keys(X_TITLES), view.x, v => {
            view.x = v; drawCurves(); })),
          el("label", {}, " y axis ", select("y-axis", ["linear", "log"], view.y, v => {
            view.y = v;
            Plotly.relayout("curves", {"yaxis.type": v});
            afterPaint(drawOverlay);
          }))),
       el("div", {id: "seeds", class: "controls"}),
       el("div", {id: "curves", class: "plot"}),
       el("p", {class: "note"}, "Every seed a thin line (dotted while it trains), the median " +
          "of the seeds thick, the interquartile band shaded. Click a legend entry to hide or show a value; drag to " +
          "zoom, double-click to zoom out; hover for values."),
       el("section", {id: "grid-box"},
          el("h2", {}, "Grid"),
          el("div", {id: "heatmap", class: "plot"}),
          el("p", {class: "note"}, "The selected measure's estimate per pair of values (hover " +
             "for its interval and the median of the seeds; grey: no estimate)."),
          el("div", {id: "parallel", class: "plot"}),
          el("p", {class: "note"}, "Parallel coordinates: every seed a line from its value " +
             "on each swept axis to its result on the selected measure, coloured by it " +
             "(bright: better).")),
       el("section", {id: "overlay-box"},
          el("h2", {}, "Overlay two curves"),
          el("div", {class: "controls"},
             el("label", {}, "first ", el("select", {id: "overlay-0", onchange: e => {
               view.overlay[0] = e.target.value; drawOverlay(); }})),
             el("label", {}, " second ", el("select", {id: "overlay-1", onchange: e => {
               view.overlay[1] = e.target.value; drawOverlay(); }}))),
          el("div", {id: "overlay", class: "plot"}),
          el("p", {class: "note"}, "A value: its seeds thin (those shown above), their median " +
             "thick, the interquartile band shaded; a seed: its own curve. Same metric and " +
             "axes as the curves above.")),
       el("section", {id: "analyses"}),
       el("h2", {}, "Summary table"),
       el("pre", {id: "table"})));
  if (problem) showProblem(problem);
  drawResults();
  const job = (await call("/api/jobs/current")).body;
  if (job && job.study === name && !["done", "cancelled", "failed"].includes(job.state)) {
    follow(job);
  }
  // The store is shared: while runs are missing, another process may be storing them.
  if (!EMBEDDED) watch = setInterval(() => {
    if (!stream && view.data.stored < view.data.planned) refresh(true);
  }, WATCH_MS);
}

function select(id, options, current, onchange) {
  return el("select", {id, onchange: e => onchange(e.target.value)},
            options.map(o => el("option", {value: o, selected: o === current}, o)));
}

function studyForm(data, typed) {
  if (EMBEDDED) return null;              // read-only: nothing trains
  const fields = data.form.map(f => {
    const value = typed && typed[f.key] !== undefined ? typed[f.key] : f.value;
    const attrs = {name: f.key, id: `knob-${f.key}`, disabled: !!f.swept,
                   title: f.swept ? `swept by the study (${f.swept})` : null};
    const input = f.choices
      ? el("select", attrs, f.choices.map(c => el("option", {value: c, selected: c === value}, c)))
      : el("input", {...attrs, value, size: f.key.startsWith("values") ? 60 : 12});
    return el("div", {class: "field"},
              el("label", {for: `knob-${f.key}`}, f.label), input,
              f.swept ? el("span", {class: "hint"}, "swept") : null,
              el("span", {class: "error", id: `error-${f.key}`}));
  });
  return el("form", {id: "knobs", onsubmit: e => e.preventDefault()},
    el("h2", {}, "Knobs"), fields,
    el("div", {class: "buttons"},
       el("button", {type: "button", id: "show", onclick: () => submit(data.name, false)},
          "Show stored runs"),
       el("button", {type: "button", id: "run", onclick: () => submit(data.name, true)}, "Run"),
       el("button", {type: "button", id: "cancel", hidden: true}, "Cancel")),
    el("p", {class: "error", id: "form-error"}),
    el("div", {id: "progress", hidden: true},
       el("progress", {id: "progress-bar", max: 1, value: 0}), el("span", {id: "progress-text"})));
}

function knobValues() {
  const knobs = {};
  for (const input of document.querySelectorAll("#knobs [name]")) {
    if (!input.disabled) knobs[input.name] = input.value;
  }
  return knobs;
}

function showProblem(problem) {
  for (const span of document.querySelectorAll("#knobs .error")) span.textContent = "";
  const spot = document.getElementById(`error-${problem.knob}`) ||
               document.getElementById("form-error");
  spot.textContent = problem.error;
}

async function submit(name, train) {
  const knobs = knobValues();
  if (!train) {
    const hash = studyHash(name, knobs);
    if (location.hash === hash) route(); else location.hash = hash;
    return;
  }
  const answer = await call(`/api/studies/${encodeURIComponent(name)}/run`, {},
    {method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(knobs)});
  if (!answer.ok) { showProblem(answer.body); return; }
  const hash = studyHash(name, knobs);
  if (location.hash !== hash) {
    history.replaceState(null, "", hash);
    await showStudy(name, knobs);        // the study with these knobs; it follows the job
  } else {
    follow(answer.body);
  }
}

// ---------------------------------------------------------------------------- progress
function follow(job) {
  if (stream) stream.close();
  const box = document.getElementById("progress");
  const cancel = document.getElementById("cancel");
  const run = document.getElementById("run");
  box.hidden = false; cancel.hidden = false; run.disabled = true;
  cancel.onclick = () => call(`/api/jobs/${job.id}/cancel`, {}, {method: "POST"});
  let chunks = job.chunks_done;
  const source = stream = new EventSource(url(`/api/jobs/${job.id}/events`));
  const stop = () => {
    source.close();
    if (stream === source) stream = null;
    cancel.hidden = true; run.disabled = false;
  };
  source.onmessage = async event => {
    const j = JSON.parse(event.data);
    const over = ["done", "cancelled", "failed"].includes(j.state);
    if (over) stop();                     // the server ends the stream: no reconnection
    document.getElementById("progress-bar").value = j.total ? j.done / j.total : over ? 1 : 0;
    const eta = j.eta_s !== null ? `, about ${seconds(j.eta_s)} left` : "";
    document.getElementById("progress-text").textContent =
      j.state === "running" ? ` ${j.cohorts_done} of ${j.cohorts} cohorts, ${j.done} of ` +
                              `${j.total} run-epochs${eta}` : ` ${j.message || j.state}`;
    if (j.state === "failed") document.getElementById("form-error").textContent = j.message;
    if (j.chunks_done !== chunks || over) { chunks = j.chunks_done; await refresh(); }
  };
  source.onerror = stop;
}

let refreshing = false;       // one refresh at a time: progress events come faster

async function refresh(onlyIfMore = false) {
  if (refreshing) return;
  refreshing = true;
  try { await redraw(onlyIfMore); } finally { refreshing = false; }
}

async function redraw(onlyIfMore) {
  const data = view.data;
  const knobs = Object.fromEntries(new URLSearchParams(location.hash.split("?")[1] || ""));
  const answer = await call(`/api/studies/${encodeURIComponent(data.name)}`, knobs);
  if (!answer.ok || view.data !== data) return;       // failed, or another view by now
  if (onlyIfMore && answer.body.stored === data.stored) return;
  view.data = answer.body;
  if (!view.data.metrics.includes(view.metric)) view.metric = view.data.metrics[0] || null;
  drawResults();
}

// ---------------------------------------------------------------------------- drawing
function drawResults() {
  const data = view.data;
  const box = document.getElementById("answer");
  const partial = data.answer && data.stored < data.planned
    ? [el("p", {class: "note"}, `From the ${data.stored} of ${data.planned} runs stored so far.`)]
    : [];
  box.replaceChildren(el("h2", {}, "Answer"), ...partial,
    ...(data.answer ? data.answer.map(line => el("p", {class: "answer"}, line))
                : [el("p", {class: "note"}, data.stored
                     ? `Not answered yet: ${data.stored} of ${data.planned} runs are stored, ` +
                       "and every value needs at least one."
                     : `Not run yet with these knobs: none of its ${data.planned} runs ` +
                       "is stored.")]));
  document.getElementById("table").textContent = data.table || "";
  const measure = document.getElementById("measure");
  measure.replaceChildren(...data.measures.map((m, i) =>
    el("option", {value: i, selected: i === view.measure}, m.title)));
  const metric = document.getElementById("metric");
  metric.replaceChildren(...data.metrics.map(m =>
    el("option", {value: m, selected: m === view.metric}, m)));
  const seeds = [...new Set(data.values.flatMap(v => v.seeds))].sort((a, b) => a - b);
  document.getElementById("seeds").replaceChildren(
    ...(seeds.length ? ["seed lines shown (seed s starts from the same weights and data " +
                        "order in every value): "] : []),
    ...seeds.map(seed => el("label", {class: "seed"},
      el("input", {type: "checkbox", checked: !view.hidden.has(seed), onchange: e => {
        if (e.target.checked) view.hidden.delete(seed); else view.hidden.add(seed);
        drawCurves();
      }}), ` ${seed}`)));
  const choices = data.values.flatMap(v => [
    el("option", {value: v.label}, `${v.label} (its seeds)`),
    ...v.seeds.map(seed => el("option", {value: `${v.label}|${seed}`}, `${v.label}, seed ${seed}`))]);
  [0, 1].forEach(k => {
    const box = document.getElementById(`overlay-${k}`);
    box.replaceChildren(...choices.map(o => o.cloneNode(true)));
    box.value = view.overlay[k];
  });
  drawMeasure();
  drawCurves();
  drawAnalyses();
}

// The study's declared analyses (critical batch size, scaling rule, how many epochs): each
// one's answer, its chart as the server built it, and its table.
function drawAnalyses() {
  const box = document.getElementById("analyses");
  const items = view.data.analyses || [];
  box.replaceChildren(...(items.length ? [el("h2", {}, "Analyses")] : []),
    ...items.map(a => el("div", {class: "analysis"},
      el("h3", {}, a.title),
      el("p", {class: "answer"}, a.answer),
      a.chart ? el("div", {id: `analysis-${a.name}`, class: "plot"}) : null,
      a.table ? el("pre", {}, a.table) : null)));
  items.filter(a => a.chart).forEach(a =>
    Plotly.react(`analysis-${a.name}`, a.chart.data,
                 {...a.chart.layout, uirevision: `${view.data.name}|${a.name}`}, PLOT_CONFIG));
}

function drawMeasure() {
  const target = document.getElementById("measure-plot");
  const m = view.data.measures[view.measure];
  document.getElementById("measure-box").hidden = !m;    // no answer yet: nothing to plot
  drawGrid();
  if (!m) { Plotly.purge(target); return; }
  const scale = m.percent ? 100 : 1;
  const traces = [];
  m.values.forEach((v, i) => {
    const seeds = Object.entries(v.seeds).filter(([, x]) => x !== null);
    traces.push({
      type: "scatter", mode: "markers", name: v.label, legendgroup: v.label, showlegend: false,
      x: seeds.map(([s]) => i + 0.25 * (((Number(s) * 0.618) % 1) - 0.5)),
      y: seeds.map(([, x]) => x * scale), text: seeds.map(([s]) => `seed ${s}`),
      marker: {color: color(i, 0.55), size: 6},
      hovertemplate: `${v.label}, %{text}: %{y:.4g}<extra></extra>`});
    if (v.estimate !== null) {
      traces.push({
        type: "scatter", mode: "markers", name: v.label, legendgroup: v.label,
        x: [i], y: [v.estimate * scale],
        error_y: {type: "data", symmetric: false, color: "#222",
                  array: [v.high !== null ? (v.high - v.estimate) * scale : 0],
                  arrayminus: [v.low !== null ? (v.estimate - v.low) * scale : 0]},
        marker: {color: v.verdict === "best" ? "#000" : color(i), size: 11, symbol: "diamond"},
        hovertemplate: `${v.label}: %{y:.4g} (${v.interval || "interval"}), ` +
                       `n = ${v.n}, ${v.verdict}<extra></extra>`});
    }
  });
  Plotly.react(target, traces, {
    title: {text: m.title},
    xaxis: {tickvals: m.values.map((_, i) => i), ticktext: m.values.map(v => v.label),
            range: [-0.5, m.values.length - 0.5], title: {text: view.data.axis},
            zeroline: false},    // x is the value's index: no line at the first value
    yaxis: {title: {text: `${m.title}${m.percent ? " (%)" : m.unit ? ` (${m.unit})` : ""}`}},
    uirevision: `${view.data.name}|${m.name}`,
    hovermode: "closest", margin: {t: 40}, showlegend: false}, PLOT_CONFIG);
}

// The traces of value v (index i) on the metric and x axis in view: its band, its seeds and
// its median; with `only`, seed `only`'s curve alone. The seeds not hidden share one trace
// (two: stored, and dotted while training), their curves apart by a gap: a hundred runs
// draw as a few dozen traces, which keeps redraws quick.
function valueTraces(v, i, only = null) {
  const c = v.curves[view.metric];
  if (!c || !v.seeds.length) return [];
  const traces = [];
  const factors = view.x === "epochs" ? v.seeds.map(() => 1) : v.per_epoch[view.x];
  const per = median(factors);
  const xs = n => Array.from({length: n}, (_, e) => per === null ? null : (e + 1) * per);
  const group = {legendgroup: v.label, showlegend: false, hoverinfo: "skip"};
  // the band: one closed outline, along the high quartile and back along the low one, over
  // the epochs that at least two seeds reached (the first ones: runs stop, never start, late)
  const banded = c.low.findIndex(q => q === null);
  const n = banded < 0 ? c.low.length : banded;
  if (only === null && n > 0) {
    const x = xs(n);
    traces.push({...group, uid: `band-${i}`, x: [...x, ...x.slice().reverse()],
                 y: [...c.high.slice(0, n), ...c.low.slice(0, n).reverse()],
                 mode: "lines", line: {width: 0, simplify: false}, fill: "toself",
                 fillcolor: color(i, 0.18)});
  }
  for (const training of [false, true]) {
    const x = [], y = [], text = [];
    c.seeds.forEach((ys, k) => {
      const seed = v.seeds[k];
      if (v.training[k] !== training || (only === null ? view.hidden.has(seed) : seed !== only)) {
        return;
      }
      const scale = factors[k];           // null: unknown (wall time of a run in training)
      if (x.length) { x.push(null); y.push(null); text.push(null); }
      ys.forEach((value, e) => {
        x.push(scale === null ? null : (e + 1) * scale); y.push(value); text.push(seed);
      });
    });
    if (!x.length) continue;
    const state = training ? " (training)" : "";
    traces.push({
      uid: only === null ? `seeds-${i}${training ? "-training" : ""}` : `seed-${i}-${only}`,
      name: only === null ? `${v.label} seeds${state}` : `${v.label}, seed ${only}`,
      legendgroup: v.label, showlegend: only !== null, mode: "lines", x, y, text,
      // Plotly's path simplification costs more than it saves on noisy curves
      line: {color: color(i, only === null ? 0.45 : 1), width: only === null ? 1 : 2,
             dash: training ? "dot" : "solid", simplify: false},
      hovertemplate: `${v.label}, seed %{text}${state}: %{y:.4g} at %{x}<extra></extra>`});
  }
  if (only === null) {
    traces.push({
      uid: `median-${i}`, name: v.label, legendgroup: v.label, mode: "lines",
      x: xs(c.median.length), y: c.median, line: {color: color(i), width: 2.5, simplify: false},
      hovertemplate: `${v.label}, median of ${v.seeds.length} seeds: %{y:.4g} at %{x}` +
                     "<extra></extra>"});
  }
  return traces;
}

function drawCurves() {
  const target = document.getElementById("curves");
  const metric = view.metric;
  if (!metric) { Plotly.purge(target); target.replaceChildren(); drawOverlay(); return; }
  const traces = view.data.values.flatMap((v, i) => valueTraces(v, i));
  Plotly.react(target, traces, {
    title: {text: metric},
    xaxis: {title: {text: X_TITLES[view.x]}},
    yaxis: {title: {text: metric}, type: view.y},
    legend: {title: {text: view.data.axis}},
    // zoom and legend toggles survive the redraws as runs come in, not a change of view
    uirevision: `${view.data.name}|${metric}|${view.x}`,
    hovermode: "closest", margin: {t: 40}}, PLOT_CONFIG);
  afterPaint(drawOverlay);
}

// Run fn once the browser has painted what changed (the plots below the fold wait for it).
function afterPaint(fn) {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

function drawOverlay() {
  const target = document.getElementById("overlay");
  const shown = view.metric && view.data.values.length > 1;
  document.getElementById("overlay-box").hidden = !shown;
  if (!shown) { Plotly.purge(target); return; }
  const traces = view.overlay.flatMap((choice, k) => {
    const [label, seed] = (choice || "").split("|");
    const i = view.data.values.findIndex(v => v.label === label);
    return i < 0 ? [] : valueTraces(view.data.values[i], i, seed === undefined ? null : Number(seed))
      .map(t => ({...t, uid: `overlay${k}-${t.uid}`}));   // uids name CSS classes: no '.'
  });
  Plotly.react(target, traces, {
    title: {text: `${view.metric}: ${view.overlay.filter(Boolean).join(" vs ")}`},
    xaxis: {title: {text: X_TITLES[view.x]}}, yaxis: {title: {text: view.metric}, type: view.y},
    uirevision: `${view.data.name}|${view.metric}|${view.x}|${view.overlay.join()}`,
    hovermode: "closest", margin: {t: 40}}, PLOT_CONFIG);
}

// A grid study (two sweep axes): value i is row floor(i / columns), column i % columns.
function drawGrid() {
  const box = document.getElementById("grid-box");
  const m = view.data.measures[view.measure];
  const axes = view.data.axes;
  box.hidden = !(m && axes.length === 2);
  if (box.hidden) { Plotly.purge("heatmap"); Plotly.purge("parallel"); return; }
  const [rows, cols] = axes;
  const k = m.percent ? 100 : 1;
  const byLabel = Object.fromEntries(m.values.map(v => [v.label, v]));
  const cells = view.data.values.map((v, i) => ({
    r: Math.floor(i / cols.labels.length), c: i % cols.labels.length, v: byLabel[v.label]}));
  const known = cells.map(x => x.v && x.v.estimate).filter(x => x !== null && x !== undefined);
  const [lo, hi] = [Math.min(...known), Math.max(...known)];
  const t = x => hi > lo ? (x - lo) / (hi - lo) : 0.5;
  const better = x => m.higher_is_better ? t(x) : 1 - t(x);    // bright: better
  const unit = m.percent ? " %" : m.unit ? ` ${m.unit}` : "";
  const level = `${Math.round(100 * m.level)} % interval`;
  const hover = x => {
    if (!x.v) return "no runs";
    const seeds = Object.values(x.v.seeds).filter(s => s !== null);
    return `${rows.name} = ${rows.labels[x.r]}<br>${cols.name} = ${cols.labels[x.c]}<br>` +
      `${m.title}: ${fmt(x.v.estimate === null ? null : x.v.estimate * k)}${unit} (${level}: ` +
      `${fmt(x.v.low === null ? null : x.v.low * k)} to ${fmt(x.v.high === null ? null : x.v.high * k)}` +
      `, n = ${x.v.n})<br>median of the ${seeds.length} seeds: ` +
      `${fmt(seeds.length ? median(seeds) * k : null)}${unit}<br>${x.v.verdict}`;
  };
  const colorscale = SCALE.map((c, j) => [j / (SCALE.length - 1), c]);
  Plotly.react("heatmap", [{
    type: "scatter", mode: "markers+text", x: cells.map(x => x.c), y: cells.map(x => x.r),
    text: cells.map(x => x.v ? fmt(x.v.estimate === null ? null : x.v.estimate * k, 3) : ""),
    textfont: {color: cells.map(x => x.v && x.v.estimate !== null && better(x.v.estimate) > 0.6
                                     ? "#222" : "#fff")},
    hovertext: cells.map(hover), hoverinfo: "text",
    marker: {size: 40, opacity: 0, color: known.length ? known.map(x => x * k) : [0],
             colorscale, reversescale: !m.higher_is_better, cmin: lo * k, cmax: hi * k,
             showscale: known.length > 0,
             colorbar: {title: {text: `${m.title}${unit}<br>(bright: better)`}}}}], {
    title: {text: `${m.title} (estimate per pair of values)`},
    shapes: cells.map(x => ({
      type: "rect", x0: x.c - 0.5, x1: x.c + 0.5, y0: x.r - 0.5, y1: x.r + 0.5,
      line: {color: "#fff", width: 2}, layer: "below",
      fillcolor: x.v && x.v.estimate !== null ? shade(better(x.v.estimate)) : "#ccc"})),
    xaxis: {tickvals: cols.labels.map((_, j) => j), ticktext: cols.labels, title: {text: cols.name},
            range: [-0.5, cols.labels.length - 0.5], showgrid: false, zeroline: false},
    yaxis: {tickvals: rows.labels.map((_, j) => j), ticktext: rows.labels, title: {text: rows.name},
            range: [-0.5, rows.labels.length - 0.5], showgrid: false, zeroline: false},
    uirevision: `${view.data.name}|${m.name}`, hovermode: "closest", margin: {t: 40}},
    PLOT_CONFIG);
  drawParallel(m, rows, cols, cells, k, unit);
}

function drawParallel(m, rows, cols, cells, k, unit) {
  const results = cells.flatMap(x => x.v ? Object.entries(x.v.seeds)
    .filter(([, y]) => y !== null).map(([seed, y]) => ({...x, seed, y: y * k})) : []);
  const ys = results.map(x => x.y);
  const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  const t = y => hi > lo ? (y - lo) / (hi - lo) : 0.5;
  const better = y => m.higher_is_better ? t(y) : 1 - t(y);    // bright: better
  const place = (j, n) => n > 1 ? j / (n - 1) : 0.5;
  const traces = results.map(x => ({
    type: "scatter", mode: "lines+markers", x: [0, 1, 2],
    y: [place(x.r, rows.labels.length), place(x.c, cols.labels.length), t(x.y)],
    line: {color: shade(better(x.y)), width: 1.5}, marker: {size: 4}, showlegend: false,
    hovertemplate: `${rows.labels[x.r]} / ${cols.labels[x.c]}, seed ${x.seed}: ` +
                   `${fmt(x.y)}${unit}<extra></extra>`}));
  const ticks = (labels, at) => labels.map((label, j) => ({
    x: at, y: place(j, labels.length), text: label, showarrow: false, xanchor: "right",
    xshift: -6, font: {size: 11}, bgcolor: "rgba(255,255,255,0.85)"}));
  Plotly.react("parallel", traces, {
    title: {text: `${m.title}: every seed (parallel coordinates)`},
    xaxis: {tickvals: [0, 1, 2], ticktext: [rows.name, cols.name, `${m.title}${unit}`],
            range: [-0.3, 2.3], showgrid: false, zeroline: false},
    yaxis: {visible: false, range: [-0.08, 1.08]},
    shapes: [0, 1, 2].map(x => ({type: "line", x0: x, x1: x, y0: 0, y1: 1,
                                 line: {color: "#888", width: 1}})),
    annotations: [...ticks(rows.labels, 0), ...ticks(cols.labels, 1),
                  ...[[0, lo], [1, hi]].map(([y, v]) => ({
                    x: 2, y, text: fmt(v), showarrow: false, xanchor: "right", xshift: -6,
                    font: {size: 11}, bgcolor: "rgba(255,255,255,0.85)"}))],
    uirevision: `${view.data.name}|${m.name}`, hovermode: "closest", margin: {t: 40}},
    PLOT_CONFIG);
}

// ---------------------------------------------------------------------------- playground
async function showPlayground() {
  leave();
  const {body} = await call("/api/playground");
  show(el("h1", {}, "Playground"),
       el("p", {class: "description"}, "A small network on a 2-D dataset: each seed's " +
          "decision regions (the predicted class's colour, stronger where the model is more " +
          "confident) over the training points, and its curves. Nothing is stored."),
       el("div", {class: "sides"}, ["A", "B"].map(side => playSide(side, body))));
}

function playSide(side, body) {
  const fields = body.form.map(f => {
    const attrs = {name: f.key, id: `play-${side}-${f.key}`};
    const input = f.choices
      ? el("select", attrs, f.choices.map(c => el("option", {value: c, selected: c === f.value}, c)))
      : el("input", {...attrs, value: f.value, size: 10});
    return el("div", {class: "field"}, el("label", {for: attrs.id}, f.label), input,
              el("span", {class: "error", id: `play-${side}-error-${f.key}`}));
  });
  const box = el("section", {class: "side", id: `side-${side}`},
    el("h2", {}, `Setup ${side}`),
    el("form", {class: "play", onsubmit: e => e.preventDefault()}, fields,
       el("div", {class: "buttons"},
          el("button", {type: "button", id: `play-${side}-train`,
                        onclick: () => play(side)}, "Train"),
          el("button", {type: "button", id: `play-${side}-doctor`,
                        title: "hyperlab doctor on seed 0: why it does not learn",
                        onclick: () => diagnose(side)}, "Diagnose")),
       el("p", {class: "note", id: `play-${side}-status`}),
       el("p", {class: "error", id: `play-${side}-form-error`})),
    el("div", {id: `play-${side}-doctor-result`}),
    el("div", {id: `play-${side}-result`}));
  return box;
}

// POST the side's fields to `path`; the answer's body, or null after showing its error by
// the field it names.
async function playCall(side, path, busy) {
  const form = document.querySelector(`#side-${side} form`);
  const knobs = {};
  for (const input of form.querySelectorAll("[name]")) knobs[input.name] = input.value;
  for (const span of form.querySelectorAll(".error")) span.textContent = "";
  const status = document.getElementById(`play-${side}-status`);
  const buttons = form.querySelectorAll("button");
  status.textContent = busy;
  buttons.forEach(b => { b.disabled = true; });
  try {
    const answer = await call(path, {}, {method: "POST",
      headers: {"content-type": "application/json"}, body: JSON.stringify(knobs)});
    status.textContent = "";
    if (answer.ok) return answer.body;
    (document.getElementById(`play-${side}-error-${answer.body.knob}`) ||
     document.getElementById(`play-${side}-form-error`)).textContent = answer.body.error;
    return null;
  } finally {
    buttons.forEach(b => { b.disabled = false; });
  }
}

async function play(side) {
  const r = await playCall(side, "/api/playground", "training…");
  if (!r) return;
  const noise = r.seeds.map(s => `seed ${s.seed}: ${s.noise_scale === null ? "–" : fmt(s.noise_scale, 3)}`);
  document.getElementById(`play-${side}-status`).textContent =
    `${r.seeds.length} seeds × ${r.setup.epochs} epochs trained in ` +
    `${r.seconds.train} s (${r.seconds.total} s with the regions). Gradient noise scale ` +
    `B_simple after the last epoch (about the batch size beyond which larger batches ` +
    `save few updates): ${noise.join(", ")}; batch size ${r.setup.batch_size}.`;
  drawPlay(side, r);
}

async function diagnose(side) {
  const r = await playCall(side, "/api/playground/doctor", "diagnosing seed 0…");
  if (!r) return;
  document.getElementById(`play-${side}-doctor-result`).replaceChildren(
    el("h3", {}, "Doctor (seed 0)"),
    el("ul", {class: "findings"}, ...(r.findings.length
      ? r.findings.map(f => el("li", {}, `${f.kind}: ${f.message}. Try ${f.try}.`))
      : r.lines.map(line => el("li", {}, line)))),
    r.command ? el("p", {class: "note"}, "The same on the command line: ",
                   el("code", {}, r.command)) : null);
}

function drawPlay(side, r) {
  const last = r.epochs.length - 1;
  const canvases = r.seeds.map(s => el("canvas", {width: 240, height: 240, class: "region",
                                                  id: `play-${side}-seed-${s.seed}`}));
  const label = el("span", {id: `play-${side}-epoch`});
  const scrub = el("input", {type: "range", min: 0, max: last, value: last,
                             id: `play-${side}-scrub`, class: "scrub"});
  const curves = el("div", {id: `play-${side}-curves`, class: "plot small"});
  document.getElementById(`play-${side}-result`).replaceChildren(
    el("div", {class: "controls"}, "epoch ", scrub, " ", label),
    el("div", {class: "regions"}, canvases.map((c, j) => el("figure", {}, c,
      el("figcaption", {}, `seed ${r.seeds[j].seed}`)))),
    curves);
  const images = r.seeds.map(s => s.frames.map(src => Object.assign(new Image(), {src})));
  const [x0, x1, y0, y1] = r.extent;
  const draw = frame => {
    label.textContent = `${r.epochs[frame]} of ${r.setup.epochs}`;
    canvases.forEach((canvas, j) => {
      const ctx = canvas.getContext("2d");
      const paint = () => {
        ctx.imageSmoothingEnabled = true;
        ctx.strokeStyle = "rgba(0,0,0,0.55)";     // the regions share the points' colours
        ctx.lineWidth = 0.8;
        ctx.drawImage(images[j][frame], 0, 0, canvas.width, canvas.height);
        r.points.x.forEach((x, k) => {
          ctx.fillStyle = r.colors[r.points.label[k]];
          ctx.beginPath();
          ctx.arc((x - x0) / (x1 - x0) * canvas.width,
                  (1 - (r.points.y[k] - y0) / (y1 - y0)) * canvas.height, 2.4, 0, 2 * Math.PI);
          ctx.fill();
          ctx.stroke();
        });
      };
      if (images[j][frame].complete) paint(); else images[j][frame].onload = paint;
    });
    Plotly.relayout(curves, {shapes: [{type: "line", x0: r.epochs[frame], x1: r.epochs[frame],
      yref: "paper", y0: 0, y1: 1, line: {color: "#888", dash: "dot"}}]});
  };
  const traces = r.seeds.flatMap((s, j) => ["loss", "val_accuracy"].map((key, k) => ({
    type: "scatter", mode: "lines", name: `seed ${s.seed} ${key}`, yaxis: k ? "y2" : "y",
    x: s.history[key].map((_, e) => e + 1), y: s.history[key],
    line: {color: color(j), width: 1.5, dash: k ? "solid" : "dot"},
    hovertemplate: `seed ${s.seed}, ${key}: %{y:.4g} at epoch %{x}<extra></extra>`})));
  Plotly.newPlot(curves, traces, {
    title: {text: "loss (dotted, left axis), val_accuracy (solid, right axis)", font: {size: 13}},
    xaxis: {title: {text: "epoch"}}, yaxis: {title: {text: "loss"}},
    yaxis2: {title: {text: "val_accuracy"}, overlaying: "y", side: "right", range: [0, 1],
             tickmode: "linear", tick0: 0, dtick: 0.2, showgrid: false},
    showlegend: false, hovermode: "closest", margin: {t: 40}},
    {...PLOT_CONFIG, displayModeBar: false}).then(() => draw(last));
  scrub.addEventListener("input", () => draw(Number(scrub.value)));
}

window.addEventListener("hashchange", route);
route();

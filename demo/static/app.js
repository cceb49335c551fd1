// The demo page: pick a video, type a query, show the spans the server's Localizer returns.
// Talks only to the server that served it (/api/...); draws the timeline as SVG.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PLOT = { width: 960, height: 230, left: 44, right: 12, top: 12, bottom: 48 };
const CURVES = [  // name in the answer, label, colour (as predict --plot); the model's own curves come after
  ["start", "P(start)", "#1f77b4"],
  ["end", "P(end)", "#d62728"],
  ["inner", "P(inside)", "#2ca02c"],
];
const OWN_CURVE_COLOURS = ["#9467bd", "#8c564b", "#e377c2"];
const SPAN_COLOUR = "#ff7f0e";
const TRUTH_COLOUR = "#2e7d32";

const $ = (id) => document.getElementById(id);
let currentVideo = null;

function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

function setStatus(text) {
  $("status").textContent = text;
}

async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error(`the demo server cannot be reached (${err.message}); is it still running?`);
  }
  let payload;
  try {
    payload = await response.json();
  } catch (err) {
    throw new Error(`the server answered ${response.status} without JSON`);
  }
  if (!response.ok) {
    throw new Error(payload.error || `the server answered ${response.status}`);
  }
  return payload;
}

function seconds(value, digits = 2) {
  return Number(value).toFixed(digits);
}

function useVideo(video) {
  currentVideo = video;
  let info = `Video: ${video.name} — ${video.clips} clips, ${seconds(video.duration)} s`;
  if (video.kind !== "synthetic") {
    info += video.cached ? " (already here: features reused)"
      : ` (features ${video.kind === "video" ? "extracted" : "read"} once in ${seconds(video.load_seconds, 3)} s)`;
  }
  if (video.truth) {
    info += `. Ground truth: “${video.truth.query}” at ${seconds(video.truth.start)}–${seconds(video.truth.end)} s`;
  }
  $("video-info").textContent = info;
  const player = $("player");
  if (video.player) {
    player.src = `/api/media/${encodeURIComponent(video.id)}`;
  } else {
    player.removeAttribute("src");
  }
  player.hidden = !video.player;
  $("result").hidden = true;
}

async function pickBuiltin() {
  const id = $("builtin").value;
  if (!id) return;
  showMessage("");
  try {
    useVideo(await api(`/api/video?id=${encodeURIComponent(id)}`));
  } catch (err) {
    showMessage(err.message);
  }
}

async function upload(kind, input) {
  const file = input.files[0];
  if (!file) return;
  showMessage("");
  setStatus(kind === "video" ? `extracting the clip features of ${file.name}…` : `reading ${file.name}…`);
  const params = new URLSearchParams({ kind, name: file.name });
  if (kind === "features") params.set("duration", $("features-duration").value);
  try {
    const video = await api(`/api/upload?${params}`, {
      method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" },
    });
    useVideo(video);
    $("builtin").value = "";
  } catch (err) {
    showMessage(err.message);
  } finally {
    setStatus("");
    input.value = "";
  }
}

async function ask(event) {
  event.preventDefault();
  showMessage("");
  if (!currentVideo) {
    showMessage("pick a video first: a built-in one, or upload features or a video file");
    return;
  }
  const started = performance.now();
  setStatus("finding…");
  $("find").disabled = true;
  try {
    const answer = await api("/api/query", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ video: currentVideo.id, query: $("query").value, k: Number($("k").value) }),
    });
    render(answer, performance.now() - started);
  } catch (err) {
    showMessage(err.message);
  } finally {
    setStatus("");
    $("find").disabled = false;
  }
}

function render(answer, roundTripMs) {
  const load = answer.video.kind === "synthetic" ? "built-in features"
    : `features ${answer.video.kind === "video" ? "extracted" : "read"} once (${seconds(answer.video.load_seconds, 3)} s), reused`;
  $("timing").textContent = `Answered in ${(1000 * answer.seconds).toFixed(1)} ms by the model `
    + `(${roundTripMs.toFixed(0)} ms round trip; ${load}).`;
  const how = {
    whole: `the whole video (${answer.clips} clips)`,
    windows: `${answer.windows} sliding windows over ${answer.video_clips} clips`,
    resampled: `${answer.video_clips} clips resampled to ${answer.clips}`,
  }[answer.mode];
  $("details").textContent = `Query “${answer.query}”: ${how}`
    + (answer.choice ? `; ${answer.model} answered with the ${answer.choice.value} ${answer.choice.name}.` : ".");
  const body = $("spans").querySelector("tbody");
  body.replaceChildren();
  answer.spans.forEach((span, i) => {
    const row = document.createElement("tr");
    row.dataset.start = String(span.start);
    row.dataset.end = String(span.end);
    row.dataset.score = String(span.score);
    for (const text of [String(i + 1), seconds(span.start), seconds(span.end), Number(span.score).toFixed(4)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    row.addEventListener("click", () => jumpTo(i, span));
    body.appendChild(row);
  });
  drawTimeline(answer);
  $("result").hidden = false;
}

function jumpTo(rank, span) {
  $("spans").querySelectorAll("tbody tr").forEach((row, i) => row.classList.toggle("chosen", i === rank));
  const player = $("player");
  if (!player.hidden) {
    player.currentTime = span.start;
    player.play().catch(() => {});  // a browser may refuse to autoplay: the position is set anyway
  }
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawTimeline(answer) {
  const plot = $("timeline");
  plot.replaceChildren();
  const w = PLOT.width - PLOT.left - PLOT.right, h = PLOT.height - PLOT.top - PLOT.bottom;
  const x = (s) => PLOT.left + (w * s) / answer.duration;
  const y = (p) => PLOT.top + h * (1 - p);
  plot.appendChild(svg("rect", { x: PLOT.left, y: PLOT.top, width: w, height: h, fill: "#fff", stroke: "#bbb" }));
  for (let tick = 0; tick <= 4; tick++) {  // probability grid
    const p = tick / 4;
    plot.appendChild(svg("line", { x1: PLOT.left, x2: PLOT.left + w, y1: y(p), y2: y(p), stroke: "#eee" }));
    plot.appendChild(svg("text", { x: PLOT.left - 6, y: y(p) + 4, "text-anchor": "end", "font-size": 11 }, p.toFixed(2)));
  }
  const step = niceStep(answer.duration / 8);
  for (let t = 0; t <= answer.duration + 1e-9; t += step) {
    plot.appendChild(svg("line", { x1: x(t), x2: x(t), y1: PLOT.top + h, y2: PLOT.top + h + 4, stroke: "#777" }));
    plot.appendChild(svg("text", { x: x(t), y: PLOT.top + h + 16, "text-anchor": "middle", "font-size": 11 },
      Number(t.toFixed(6)).toString()));
  }
  plot.appendChild(svg("text", { x: PLOT.left + w, y: PLOT.top + h + 30, "text-anchor": "end", "font-size": 11 },
    "seconds"));
  answer.spans.slice().reverse().forEach((span, reversed) => {  // best span drawn last, on top
    const rank = answer.spans.length - 1 - reversed;
    const box = svg("rect", {
      class: "span", x: x(span.start), y: PLOT.top, width: Math.max(1, x(span.end) - x(span.start)), height: h,
      fill: SPAN_COLOUR, "fill-opacity": rank === 0 ? 0.3 : 0.1, stroke: rank === 0 ? SPAN_COLOUR : "none",
    });
    box.appendChild(svg("title", {}, `#${rank + 1}: ${seconds(span.start)}–${seconds(span.end)} s, score ${Number(span.score).toFixed(4)}`));
    box.addEventListener("click", () => jumpTo(rank, span));
    plot.appendChild(box);
    plot.appendChild(svg("text", { x: x(span.start) + 2, y: PLOT.top + 12, "font-size": 11, fill: "#a0522d" }, `#${rank + 1}`));
  });
  const truth = answer.video.truth;
  if (truth && truth.query.trim().toLowerCase() === answer.query.trim().toLowerCase()) {
    plot.appendChild(svg("rect", { x: x(truth.start), y: PLOT.top + h - 5, width: x(truth.end) - x(truth.start), height: 5,
      fill: TRUTH_COLOUR }));
  }
  const centres = (n) => Array.from({ length: n }, (_, i) => ((i + 0.5) * answer.duration) / n);
  let legendX = PLOT.left;
  const own = Object.entries(answer.curve_labels || {}).map(([name, label], i) => [name, label, OWN_CURVE_COLOURS[i % 3]]);
  for (const [name, label, colour] of [...CURVES, ...own]) {
    const values = answer.curves[name];
    if (!values) continue;
    const times = centres(values.length);
    const points = values.map((v, i) => `${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    plot.appendChild(svg("polyline", { points, fill: "none", stroke: colour, "stroke-width": 1.6 }));
    plot.appendChild(svg("line", { x1: legendX, x2: legendX + 18, y1: PLOT.height - 8, y2: PLOT.height - 8, stroke: colour,
      "stroke-width": 3 }));
    plot.appendChild(svg("text", { x: legendX + 22, y: PLOT.height - 4, "font-size": 11 }, label));
    legendX += 40 + 6.5 * label.length;
  }
  if (truth && truth.query.trim().toLowerCase() === answer.query.trim().toLowerCase()) {
    plot.appendChild(svg("rect", { x: legendX, y: PLOT.height - 11, width: 18, height: 5, fill: TRUTH_COLOUR }));
    plot.appendChild(svg("text", { x: legendX + 22, y: PLOT.height - 4, "font-size": 11 }, "ground truth"));
  }
}

function niceStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * power) return m * power;
  return 10 * power;
}

async function start() {
  $("builtin").addEventListener("change", pickBuiltin);
  $("features-file").addEventListener("change", () => upload("features", $("features-file")));
  $("video-file").addEventListener("change", () => upload("video", $("video-file")));
  $("query-form").addEventListener("submit", ask);
  let info;
  try {
    info = await api("/api/info");
  } catch (err) {
    showMessage(err.message);
    return;
  }
  $("model").textContent = `${info.model} from ${info.checkpoint} · windows of ${info.max_clips} clips for long videos`;
  $("video-dim").textContent = String(info.video_dim);
  $("features-duration").placeholder = `${info.seconds_per_clip} s per clip`;
  $("k").value = info.k;
  $("k").max = info.max_k;
  const select = $("builtin");
  select.appendChild(new Option(info.builtins.length ? "(choose one)" : "(none)", ""));
  for (const video of info.builtins) select.appendChild(new Option(video.name, video.id));
  select.disabled = !info.builtins.length;
  $("builtin-note").textContent = info.builtins_note;
  $("builtin-note").hidden = !info.builtins_note;
  $("video-file").disabled = !info.video_upload;
  $("video-note").textContent = info.video_upload_note;
  $("video-note").hidden = !info.video_upload_note;
  if (info.builtins.length) {
    select.value = info.builtins[0].id;
    await pickBuiltin();
  }
  document.body.dataset.ready = "true";  // for tests: the page has its model and first video
}

start();

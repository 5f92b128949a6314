"use strict";
// The web view's page: stream, live status, top-view plot, Stop and cat_location.
// The token (if any) comes from this page's own ?token=; it is sent in a header, and in the
// stream's query (an <img> cannot send headers).
const token = new URLSearchParams(location.search).get("token") || "";
const q = token ? "?token=" + encodeURIComponent(token) : "";
const headers = token ? {"X-Cat-Follow-Token": token} : {};
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let view = {x0: -2, y0: -2, span: 4};  // world box shown: x0..x0+span (x), y0..y0+span (y)

$("stream").src = "stream.mjpg" + q;

// POST a JSON payload to one of the view's state-changing endpoints and show its answer as "what: ...".
async function post(path, payload, what) {
  const r = await fetch(path, {method: "POST", headers: {...headers, "Content-Type": "application/json"},
                               body: JSON.stringify(payload)});
  const body = await r.json().catch(() => ({}));
  const a = $("answer");
  a.textContent = r.ok ? what + ": " + (body.answer || "OK") : what + ": " + r.status + " " + (body.error || "");
  a.className = r.ok ? "ok" : "err";
}
const send = (line) => post("command", {line}, line);

$("stop").addEventListener("click", () => send("stop"));

// A click on the camera view: follow the cat there (POST /target, a point in fractions of the view).
$("stream").addEventListener("click", (e) => {
  const r = $("stream").getBoundingClientRect();
  const point = {x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height};
  post("target", point, "follow the cat at (" + point.x.toFixed(2) + ", " + point.y.toFixed(2) + ")");
});
$("goto").addEventListener("submit", (e) => {
  e.preventDefault();
  send("cat_location " + $("gx").value.trim() + " " + $("gy").value.trim());
});

// world (x forward = up, y left = left) <-> svg pixels
const toPx = (x, y) => [160 - (y - (view.y0 + view.span / 2)) * 320 / view.span,
                        160 - (x - (view.x0 + view.span / 2)) * 320 / view.span];
const toWorld = (px, py) => [view.x0 + view.span / 2 + (160 - py) * view.span / 320,
                             view.y0 + view.span / 2 + (160 - px) * view.span / 320];

$("plot").addEventListener("click", (e) => {
  const r = $("plot").getBoundingClientRect();
  const [x, y] = toWorld((e.clientX - r.left) * 320 / r.width, (e.clientY - r.top) * 320 / r.height);
  $("gx").value = x.toFixed(2); $("gy").value = y.toFixed(2);
  send("cat_location " + x.toFixed(2) + " " + y.toFixed(2));
});

function el(name, attrs) {
  const n = document.createElementNS(SVG, name);
  for (const k in attrs) n.setAttribute(k, attrs[k]);
  return n;
}

function fit(points) {  // a square world box around every point, at least 4 m wide
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const span = Math.max(4, x1 - x0 + 1, y1 - y0 + 1);
  view = {x0: (x0 + x1) / 2 - span / 2, y0: (y0 + y1) / 2 - span / 2, span};
}

function drawPlot(p) {
  const svg = $("plot");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const pts = p.trail.slice();
  if (p.pose) pts.push([p.pose.x, p.pose.y]);
  if (p.target) pts.push(p.target);
  if (p.cat) pts.push(p.cat);
  fit(pts.length ? pts : [[0, 0]]);
  for (let m = Math.ceil(view.x0); m <= view.x0 + view.span; m++) {  // 1 m grid
    const [, py] = toPx(m, 0);
    svg.appendChild(el("line", {x1: 0, x2: 320, y1: py, y2: py, stroke: "#ddd"}));
  }
  for (let m = Math.ceil(view.y0); m <= view.y0 + view.span; m++) {
    const [px] = toPx(0, m);
    svg.appendChild(el("line", {y1: 0, y2: 320, x1: px, x2: px, stroke: "#ddd"}));
  }
  if (p.trail.length > 1) {
    svg.appendChild(el("polyline", {points: p.trail.map((q) => toPx(q[0], q[1]).join(",")).join(" "),
                                    fill: "none", stroke: "#1565c0", "stroke-width": 2}));
  }
  if (p.target) {
    const [tx, ty] = toPx(p.target[0], p.target[1]);
    svg.appendChild(el("path", {d: `M${tx - 7},${ty}h14M${tx},${ty - 7}v14`, stroke: "#2e7d32", "stroke-width": 3}));
  }
  if (p.cat) {
    const [cx, cy] = toPx(p.cat[0], p.cat[1]);
    svg.appendChild(el("circle", {cx, cy, r: 6, fill: "#ef6c00"}));
  }
  if (p.pose) {
    const [x, y] = toPx(p.pose.x, p.pose.y);
    const a = -p.pose.heading_deg;  // svg rotates clockwise; heading is anticlockwise
    svg.appendChild(el("path", {d: "M0,-10L6,7L-6,7Z", fill: "#c62828", transform: `translate(${x},${y}) rotate(${a})`}));
  }
}

function showStatus(s) {
  $("state").textContent = (s.state || "?").toUpperCase();
  const m = s.motors || {};
  $("reason").textContent = s.reason || m.limited_by || (s.state === "idle" ? s.stop_reason || "" : "");
  const rows = [
    ["pose", s.pose ? `x ${s.pose.x} y ${s.pose.y} heading ${s.pose.heading_deg}°` : "-"],
    ["target", s.target ? s.target.join(", ") : "-"],
    ["box", s.last_bbox ? `${s.last_bbox.bbox.join(" ")} (${s.last_bbox.source || "-"}, ${s.last_bbox.age_s} s ago)` : "-"],
    ["motors", `speed ${m.speed} steer ${m.steer} pan ${m.pan} tilt ${m.tilt}`],
    ["fps", Object.entries(s.fps || {}).map(([k, v]) => `${k} ${v}`).join(" · ")],
    ["range", s.range_cm == null ? "-" : s.range_cm + " cm"],
    ["tracks", (s.tracks || []).map((t) => `#${t.id} ${t.cat >= t.dog ? "cat " + t.cat : "dog " + t.dog}` +
                                    (t.id === s.followed_track ? " (followed)" : "")).join(" · ") || "-"],
  ];
  const t = $("facts");
  t.textContent = "";
  for (const [k, v] of rows) {
    const tr = t.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v;
  }
}

async function poll() {
  try {
    const [s, p] = await Promise.all([fetch("status.json" + q, {headers}).then((r) => r.json()),
                                      fetch("path.json" + q, {headers}).then((r) => r.json())]);
    showStatus(s);
    drawPlot(p);
  } catch (e) {
    $("state").textContent = "no connection";
  }
  setTimeout(poll, 300);
}
poll();

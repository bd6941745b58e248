// The utcp trace page: plain JavaScript, no libraries. Events come from the
// recorder as server-sent events (/events), or from the JSON inlined in a
// file written by --trace-html. Every view draws the selected connection
// as it was at one moment, the step chosen with the controls.
"use strict";

const $ = (id) => document.getElementById(id);

const conns = new Map(); // number -> connection
let current = null; // the connection shown
let pos = -1; // index of the step shown
let live = true; // follow new events
let pickedByUser = false;
let pending = false;
let names = ["utcp", "peer"]; // the two sides, left and right

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function newConn(n, local, remote) {
  return { n, local: local || "?", remote: remote || "?", steps: [], byId: new Map(), sender: [], tmax: 0 };
}

// add takes one event into the model. Events with a ref annotate an
// earlier step (a transition it caused, a drop); sender events feed the
// graph; the others are steps of their own.
function add(ev) {
  if (ev.kind === "gone") {
    conns.delete(ev.conn);
    if (current && current.n === ev.conn) current = null;
    return;
  }
  let c = conns.get(ev.conn);
  if (!c) {
    c = newConn(ev.conn, ev.local, ev.remote);
    conns.set(ev.conn, c);
    if (!current || (live && !pickedByUser)) current = c;
  }
  if (ev.kind === "conn") return;
  c.tmax = Math.max(c.tmax, ev.t);
  if (ev.kind === "sender") {
    c.sender.push(ev);
    return;
  }
  ev.notes = [];
  const target = ev.ref ? c.byId.get(ev.ref) : null;
  if (target) {
    target.notes.push(ev);
    return;
  }
  c.byId.set(ev.id, ev);
  c.steps.push(ev);
}

function reset() {
  conns.clear();
  current = null;
  pos = -1;
}

// ---- states ----

// statesAt replays the steps up to i: utcp's state, the peer's, and the
// last transition of each.
function statesAt(c, i) {
  let local = null, peer = null, localFrom = null, peerFrom = null;
  for (const s of c.steps) {
    const st = [s, ...s.notes].find((e) => e.kind === "state");
    if (st) {
      local = st.from; // the state before the first transition
      break;
    }
  }
  for (let k = 0; k <= i && k < c.steps.length; k++) {
    const s = c.steps[k];
    for (const e of [s, ...s.notes]) {
      if (e.kind === "state") {
        if (k === i) localFrom = e.from;
        local = e.to;
      }
    }
    if (s.peer) {
      if (k === i && s.peerFrom) peerFrom = s.peerFrom;
      peer = s.peer;
    }
  }
  return { local: local || "?", peer: peer || "?", localFrom, peerFrom };
}

// ---- the ladder ----

const FLAG_NAMES = { S: "SYN", F: "FIN", R: "RST", P: "PSH", A: "ACK", U: "URG", E: "ECE", C: "CWR" };

function flagText(letters) {
  return "[" + [...letters].map((l) => FLAG_NAMES[l] || l).join(", ") + "]";
}

function segText(e) {
  let s = flagText(e.flags) + " Seq=" + e.seq;
  if (e.flags.includes("A")) s += " Ack=" + e.ack;
  s += " Win=" + e.win + " Len=" + e.len;
  return s;
}

function userText(e) {
  let s = e.user;
  if (e.n) s += " (" + e.n + " octets)";
  if (e.err) s += ": " + e.err;
  return s;
}

function dropOf(e) {
  if (e.kind === "drop") return e;
  return e.notes.find((n) => n.kind === "drop") || null;
}

const L = { w: 870, row: 54, top: 40, time: 4, localX: 262, peerX: 622 };

function drawLadder(c) {
  const svg = $("ladder");
  const h = L.top + L.row * (c.steps.length + 1);
  svg.setAttribute("width", L.w);
  svg.setAttribute("height", h);
  const out = [];
  out.push(`<text class="col-head" x="${L.localX}" y="14" text-anchor="middle">${esc(names[0] + " " + c.local)}</text>`);
  out.push(`<text class="col-head" x="${L.peerX}" y="14" text-anchor="middle">${esc(names[1] + " " + c.remote)}</text>`);
  out.push(`<text class="time" x="${L.time}" y="30">time (s)</text>`);
  out.push(`<line class="col" x1="${L.localX}" y1="20" x2="${L.localX}" y2="${h}"/>`);
  out.push(`<line class="col" x1="${L.peerX}" y1="20" x2="${L.peerX}" y2="${h}"/>`);
  c.steps.forEach((e, i) => {
    const y = L.top + i * L.row;
    const cls = ["row"];
    if (i === pos) cls.push("current");
    if (i > pos) cls.push("future");
    const body = [];
    body.push(`<rect class="hl" x="0" y="${y - 4}" width="${L.w}" height="${L.row}"/>`);
    body.push(`<text class="time" x="${L.time}" y="${y + 12}">${e.t.toFixed(6)}</text>`);
    let attrs = "";
    if (e.kind === "in" || e.kind === "out" || e.kind === "drop") {
      const outgoing = e.kind === "out";
      const drop = dropOf(e);
      if (e.retrans) cls.push("retrans");
      if (drop) cls.push("dropped");
      const x1 = outgoing ? L.localX : L.peerX, x2 = outgoing ? L.peerX : L.localX;
      // A dropped segment's arrow stops short of utcp's column.
      const xe = drop ? x2 + (x1 - x2) * 0.18 : x2;
      const y1 = y + 10, y2 = y + 26;
      const ye = drop ? y1 + (y2 - y1) * 0.82 : y2;
      const dx = outgoing ? -7 : 7;
      body.push(`<line class="arrow" x1="${x1}" y1="${y1}" x2="${xe}" y2="${ye}"/>`);
      if (drop) {
        body.push(`<text class="drop-mark" x="${xe - 4}" y="${ye + 4}">✕</text>`);
      } else {
        body.push(`<polyline class="arrow-head" points="${xe + dx},${ye - 4} ${xe},${ye} ${xe + dx},${ye + 4}" fill="none" stroke="currentColor"/>`);
      }
      let label = segText(e);
      if (e.retrans) label += " (retransmission)";
      body.push(`<title>${esc(label + " " + (e.opts || ""))}</title>`);
      body.push(`<text class="seg-label" x="${(L.localX + L.peerX) / 2}" y="${y + 6}" text-anchor="middle">${esc(label)}</text>`);
      const why = drop ? "dropped: " + (drop.why || drop.reason || "") + (drop.rule ? " (" + drop.rule + ")" : "") : e.why ? e.why + (e.rule ? " (" + e.rule + ")" : "") : e.opts;
      if (why) body.push(`<text class="why" x="${(L.localX + L.peerX) / 2}" y="${y + 37}" text-anchor="middle">${esc(why.length > 70 ? why.slice(0, 69) + "…" : why)}</text>`);
      if (e.step) body.push(`<text class="step-label" x="${L.peerX + 8}" y="${y + 12}">${esc(e.step)}</text>`);
      attrs = ` data-kind="segment" data-dir="${outgoing ? "out" : "in"}" data-flags="${esc(e.flags)}" data-step="${esc(e.step || "")}"` + (drop ? ` data-dropped="${esc(drop.reason || "yes")}"` : "");
    } else if (e.kind === "user") {
      body.push(`<path d="M${L.localX} ${y + 4} l6 6 l-6 6 l-6 -6 z" fill="#1b7f3b"/>`);
      body.push(`<text class="user-label" x="${L.localX + 12}" y="${y + 14}">==&gt; ${esc(userText(e))}</text>`);
      attrs = ` data-kind="user" data-user="${esc(e.user)}"`;
    } else if (e.kind === "truncated") {
      body.push(`<text class="why" x="${L.localX + 12}" y="${y + 14}">the record of this connection stops here (the recorder's bound)</text>`);
      attrs = ` data-kind="truncated"`;
    } else if (e.kind === "state") {
      attrs = ` data-kind="state"`;
    }
    // utcp's transitions to the left of its column, the peer's to the right.
    const tr = [e, ...e.notes].filter((n) => n.kind === "state");
    tr.forEach((n, k) => body.push(`<text class="transition" data-kind="transition" x="${L.localX - 6}" y="${y + 12 + 12 * k}" text-anchor="end">${esc(n.from)} → ${esc(n.to)}</text>`));
    if (e.peerFrom) {
      body.push(`<text class="peer-transition" data-kind="peer-transition" x="${L.peerX + 8}" y="${y + 26}">${esc(e.peerFrom + " → " + e.peer)} (inferred)</text>`);
    }
    out.push(`<g class="${cls.join(" ")}" data-index="${i}"${attrs}>${body.join("")}</g>`);
  });
  svg.innerHTML = out.join("");
}

// ---- RFC 9293 Figure 5 ----

const NODES = {
  CLOSED: [235, 22], LISTEN: [235, 80],
  "SYN-RECEIVED": [75, 140], "SYN-SENT": [395, 140],
  ESTABLISHED: [235, 200],
  "FIN-WAIT-1": [75, 260], "CLOSE-WAIT": [395, 260],
  "FIN-WAIT-2": [75, 325], CLOSING: [235, 325], "LAST-ACK": [395, 325],
  "TIME-WAIT": [235, 380],
};

const NW = 104, NH = 24;

// The transitions of Figure 5: from, to, label, where the label goes
// (x, y, anchor), and a path where a straight line between the boxes
// would cross others.
const EDGES = [
  ["CLOSED", "LISTEN", "passive OPEN", 211, 54, "end", "M215 34 L215 68"],
  ["LISTEN", "CLOSED", "CLOSE", 259, 54, "start", "M255 68 L255 34"],
  ["CLOSED", "SYN-SENT", "active OPEN / snd SYN", 292, 14, "start", "M287 18 Q 395 18, 395 128"],
  ["SYN-SENT", "CLOSED", "CLOSE", 445, 86, "start", "M425 128 C 460 60, 400 26, 287 26"],
  ["LISTEN", "SYN-RECEIVED", "rcv SYN / snd SYN,ACK", 150, 104, "end"],
  ["LISTEN", "SYN-SENT", "SEND / snd SYN", 320, 104, "start"],
  ["SYN-SENT", "SYN-RECEIVED", "rcv SYN / snd ACK", 235, 136, "middle"],
  ["SYN-RECEIVED", "ESTABLISHED", "rcv ACK of SYN", 150, 176, "end"],
  ["SYN-SENT", "ESTABLISHED", "rcv SYN,ACK / snd ACK", 320, 176, "start"],
  ["SYN-RECEIVED", "FIN-WAIT-1", "CLOSE / snd FIN", 70, 200, "end", "M75 152 L75 248"],
  ["ESTABLISHED", "FIN-WAIT-1", "CLOSE / snd FIN", 150, 236, "end"],
  ["ESTABLISHED", "CLOSE-WAIT", "rcv FIN / snd ACK", 320, 236, "start"],
  ["FIN-WAIT-1", "FIN-WAIT-2", "rcv ACK of FIN", 70, 296, "end", "M75 272 L75 313"],
  ["FIN-WAIT-1", "CLOSING", "rcv FIN / snd ACK", 166, 286, "start"],
  ["FIN-WAIT-2", "TIME-WAIT", "rcv FIN / snd ACK", 120, 374, "end", "M75 337 Q 75 380, 183 380"],
  ["CLOSING", "TIME-WAIT", "rcv ACK of FIN", 240, 356, "start"],
  ["CLOSE-WAIT", "LAST-ACK", "CLOSE / snd FIN", 390, 296, "end"],
  ["LAST-ACK", "CLOSED", "rcv ACK of FIN (to CLOSED)", 395, 350, "middle", "M447 325 C 475 300, 475 40, 287 28"],
  ["TIME-WAIT", "CLOSED", "timeout = 2MSL (to CLOSED)", 235, 399, "middle", "M183 386 C -5 400, -5 22, 183 22"],
];

// edgePath joins two boxes through the sides facing each other.
function edgePath(a, b) {
  const [x1, y1] = NODES[a], [x2, y2] = NODES[b];
  const dx = x2 - x1, dy = y2 - y1;
  let sx = x1, sy = y1, ex = x2, ey = y2;
  if (Math.abs(dy) * NW > Math.abs(dx) * NH) {
    sy += Math.sign(dy) * NH / 2;
    ey -= Math.sign(dy) * NH / 2;
  } else {
    sx += Math.sign(dx) * NW / 2;
    ex -= Math.sign(dx) * NW / 2;
  }
  return `M${sx} ${sy} L${ex} ${ey}`;
}

function drawDiagram(st) {
  const out = [`<defs><marker id="sd-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#888"/></marker></defs>`];
  for (const [a, b, label, lx, ly, anchor, path] of EDGES) {
    const cls = ["edge"];
    if (st.localFrom === a && st.local === b) cls.push("taken-local");
    if (st.peerFrom === a && st.peer === b) cls.push("taken-peer");
    out.push(`<path class="${cls.join(" ")}" data-from="${a}" data-to="${b}" d="${path || edgePath(a, b)}"><title>${esc(a + " → " + b + ": " + label)}</title></path>`);
    out.push(`<text class="edge-label" x="${lx}" y="${ly}" text-anchor="${anchor}">${esc(label)}</text>`);
  }
  for (const [name, [x, y]] of Object.entries(NODES)) {
    const cls = ["node"];
    if (st.local === name) cls.push("is-local");
    if (st.peer === name) cls.push("is-peer");
    let badges = "";
    if (st.local === name) badges += `<text class="badge local" x="${x - NW / 2 - 2}" y="${y + 4}" text-anchor="end">${esc(names[0])} ▸</text>`;
    if (st.peer === name) badges += `<text class="badge peer" x="${x + NW / 2 + 2}" y="${y + 4}">◂ ${esc(names[1])}</text>`;
    out.push(`<g class="${cls.join(" ")}" id="sd-${name}" data-state="${name}"><rect x="${x - NW / 2}" y="${y - NH / 2}" width="${NW}" height="${NH}"/><text x="${x}" y="${y + 4}">${name}</text>${badges}</g>`);
  }
  $("state-diagram").innerHTML = out.join("");
}

// ---- the time-sequence graph ----

// short writes a number of octets in at most five characters or so: 345k, 12.3M.
function short(v) {
  if (v < 10000) return String(v);
  if (v < 1e6) return Math.round(v / 1000) + "k";
  if (v < 1e9) return (v / 1e6).toPrecision(3) + "M";
  return (v / 1e9).toPrecision(3) + "G";
}

const G = { w: 520, h: 300, left: 62, right: 26, top: 12, bottom: 34 };

function drawGraph(c) {
  const dir = $("tsg-dir").value; // whose sending direction
  const sendKind = dir === "local" ? "out" : "in";
  const ackKind = dir === "local" ? "in" : "out";
  const fit = $("tsg-fit").checked;
  const data = [], acks = [], wins = [], cwnd = [], ssth = [];
  let tNow = 0;
  // A dropped segment may carry any numbers: it stays off the graph.
  const kept = (e) => !dropOf(e);
  c.steps.forEach((e, i) => {
    if (i > pos) return;
    tNow = e.t;
    if (!kept(e)) return;
    if (e.kind === sendKind && e.len > 0) data.push(e);
    if (e.kind === ackKind && e.flags && e.flags.includes("A") && !e.flags.includes("S")) {
      acks.push([e.t, e.ack]);
      wins.push([e.t, e.ack + e.win]);
    }
  });
  if (dir === "local") {
    for (const s of c.sender) {
      if (s.t > tNow && pos < c.steps.length - 1) continue;
      cwnd.push([s.t, s.sender.sndUna + s.sender.cwnd]);
      if (s.sender.ssthresh >= 0) ssth.push([s.t, s.sender.sndUna + s.sender.ssthresh]);
    }
  }
  // The scales cover the whole connection, so that stepping does not move them.
  let ymax = 1;
  for (const e of c.steps.filter(kept)) {
    if (e.kind === sendKind && e.len > 0) ymax = Math.max(ymax, e.seq + e.len);
    if (e.kind === ackKind && e.flags && e.flags.includes("A")) {
      ymax = Math.max(ymax, e.ack);
      if (fit) ymax = Math.max(ymax, e.ack + e.win);
    }
  }
  if (fit && dir === "local") for (const s of c.sender) ymax = Math.max(ymax, s.sender.sndUna + s.sender.cwnd);
  ymax = Math.ceil(ymax * 1.15) + 1;
  const tmax = Math.max(c.tmax, 1e-6) * 1.02;
  const pw = G.w - G.left - G.right, ph = G.h - G.top - G.bottom;
  const X = (t) => (G.left + (t / tmax) * pw).toFixed(1);
  // Values above the scale are drawn on its top edge.
  const Y = (v) => (G.top + ph - (Math.min(v, ymax) / ymax) * ph).toFixed(1);
  const out = [];
  for (let k = 0; k <= 4; k++) {
    const v = Math.round((ymax * k) / 4), t = (tmax * k) / 4;
    out.push(`<line class="grid" x1="${G.left}" y1="${Y(v)}" x2="${G.w - G.right}" y2="${Y(v)}"/>`);
    out.push(`<text x="${G.left - 4}" y="${+Y(v) + 4}" text-anchor="end">${short(v)}</text>`);
    out.push(`<text x="${X(t)}" y="${G.h - G.bottom + 14}" text-anchor="middle">${t.toPrecision(3)}</text>`);
  }
  out.push(`<text x="${G.left + pw / 2}" y="${G.h - 4}" text-anchor="middle">time (s)</text>`);
  out.push(`<text x="12" y="${G.top + ph / 2}" transform="rotate(-90 12 ${G.top + ph / 2})" text-anchor="middle">relative sequence number</text>`);
  out.push(`<line class="axis" x1="${G.left}" y1="${G.top + ph}" x2="${G.w - G.right}" y2="${G.top + ph}"/>`);
  out.push(`<line class="axis" x1="${G.left}" y1="${G.top}" x2="${G.left}" y2="${G.top + ph}"/>`);
  const bars = (list) => list.map((e) => `<line x1="${X(e.t)}" y1="${Y(e.seq)}" x2="${X(e.t)}" y2="${Y(e.seq + e.len)}"><title>${esc(segText(e))}</title></line>`).join("");
  const fresh = data.filter((e) => !e.retrans), again = data.filter((e) => e.retrans);
  out.push(`<g class="series-data" data-count="${fresh.length}">${bars(fresh)}</g>`);
  out.push(`<g class="series-retrans" data-count="${again.length}">${bars(again)}</g>`);
  // The ACK, window, cwnd and ssthresh lines hold their value until the next one.
  const steps = (pts) => {
    const p = [];
    pts.forEach(([t, v], k) => {
      if (k > 0) p.push(`${X(t)},${Y(pts[k - 1][1])}`);
      p.push(`${X(t)},${Y(v)}`);
    });
    if (pts.length) p.push(`${X(tNow)},${Y(pts[pts.length - 1][1])}`);
    return p.join(" ");
  };
  out.push(`<polyline class="series-ack" data-count="${acks.length}" points="${steps(acks)}"/>`);
  out.push(`<polyline class="series-window" data-count="${wins.length}" points="${steps(wins)}"/>`);
  out.push(`<polyline class="series-cwnd" data-count="${cwnd.length}" points="${steps(cwnd)}"/>`);
  out.push(`<polyline class="series-ssthresh" data-count="${ssth.length}" points="${steps(ssth)}"/>`);
  out.push(`<line class="cursor" id="tsg-cursor" x1="${X(tNow)}" y1="${G.top}" x2="${X(tNow)}" y2="${G.top + ph}"/>`);
  $("tsg").innerHTML = out.join("");
  const who = dir === "local" ? names[0] : names[1];
  const other = dir === "local" ? names[1] : names[0];
  $("tsg-legend").innerHTML =
    `<span class="l-data">data ${esc(who)} sent (bar: seq to seq+len)</span>` +
    `<span class="l-retrans">retransmission</span>` +
    `<span class="l-ack">ACK from ${esc(other)}</span>` +
    `<span class="l-window">window edge ACK+WIN</span>` +
    (dir === "local" && c.sender.length ? `<span class="l-cwnd">SND.UNA+cwnd</span><span class="l-ssthresh">SND.UNA+ssthresh</span>` : `<span>(no cwnd: only utcp's own sender knows it, a capture does not)</span>`);
}

// ---- controls ----

function describeStep(e) {
  if (!e) return "";
  const t = e.t.toFixed(6) + " s  ";
  if (e.kind === "in" || e.kind === "out" || e.kind === "drop") {
    const arrow = e.kind === "out" ? `${names[0]} → ${names[1]} ` : `${names[1]} → ${names[0]} `;
    return t + arrow + segText(e) + (e.opts ? " " + e.opts : "") + (e.step ? "  (" + e.step + ")" : "");
  }
  if (e.kind === "user") return t + userText(e);
  if (e.kind === "state") return t + e.from + " → " + e.to;
  return t + e.kind;
}

function render() {
  pending = false;
  const picker = $("conn-picker");
  const want = [...conns.values()].map((c) => c.n + "");
  if ([...picker.options].map((o) => o.value).join() !== want.join()) {
    picker.innerHTML = [...conns.values()].map((c) => `<option value="${c.n}">#${c.n} ${esc(c.local)} ⇄ ${esc(c.remote)}</option>`).join("");
  }
  if (!current && conns.size) current = [...conns.values()].pop();
  if (!current) {
    $("step-pos").textContent = "no connection yet";
    drawDiagram({});
    return;
  }
  picker.value = current.n + "";
  const n = current.steps.length;
  if (live || pos >= n) pos = n - 1;
  const slider = $("step-slider");
  slider.max = Math.max(n - 1, 0);
  slider.value = Math.max(pos, 0);
  $("step-live").setAttribute("aria-pressed", live ? "true" : "false");
  $("step-pos").textContent = n ? `event ${pos + 1} of ${n}` : "no events";
  const st = statesAt(current, pos);
  $("state-local").textContent = st.local;
  $("state-peer").textContent = st.peer;
  $("step-desc").textContent = describeStep(current.steps[pos]);
  drawLadder(current);
  drawDiagram(st);
  drawGraph(current);
  const row = document.querySelector(`#ladder .row[data-index="${pos}"]`);
  if (row && live) row.scrollIntoView({ block: "nearest" });
}

function schedule() {
  if (!pending) {
    pending = true;
    requestAnimationFrame(render);
  }
}

function go(to) {
  if (!current) return;
  live = false;
  pos = Math.max(0, Math.min(to, current.steps.length - 1));
  render();
  const row = document.querySelector(`#ladder .row[data-index="${pos}"]`);
  if (row) row.scrollIntoView({ block: "nearest" });
}

$("step-first").onclick = () => go(0);
$("step-prev").onclick = () => go(pos - 1);
$("step-next").onclick = () => go(pos + 1);
$("step-live").onclick = () => {
  live = true;
  render();
};
$("step-slider").oninput = (e) => go(+e.target.value);
$("tsg-dir").onchange = render;
$("tsg-fit").onchange = render;
$("conn-picker").onchange = (e) => {
  pickedByUser = true;
  current = conns.get(+e.target.value) || current;
  pos = current ? current.steps.length - 1 : -1;
  render();
};
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT") return;
  if (e.key === "ArrowLeft") go(pos - 1);
  else if (e.key === "ArrowRight") go(pos + 1);
  else if (e.key === "Home") go(0);
  else if (e.key === "End") $("step-live").onclick();
  else return;
  e.preventDefault();
});

// ---- data ----

// setNames labels the two sides, as a capture's page (utcp explain) does.
function setNames(n, localInferred) {
  names = n;
  document.querySelector(".state-box.local .who").textContent = n[0];
  document.querySelector(".state-box.peer .who").textContent = n[1];
  const opts = $("tsg-dir").options;
  opts[0].textContent = `what ${n[0]} sends`;
  opts[1].textContent = `what ${n[1]} sends`;
  if (localInferred) document.querySelector(".state-box.local").insertAdjacentHTML("beforeend", ` <span class="note">(inferred from the segments)</span>`);
}

function start() {
  const inline = $("trace-data").textContent.trim();
  if (inline) {
    const snap = JSON.parse(inline);
    if (snap.names) setNames(snap.names, snap.localInferred);
    snap.events.forEach(add);
    live = true;
    render();
    live = false;
    $("stream-status").textContent = `offline file: ${snap.events.length} events`;
    $("step-live").disabled = true;
    const s = snap.stats || {};
    if (s.ConnsForgotten || s.EventsNotKept) $("footer").textContent = `the recorder left out ${s.ConnsForgotten} connections and ${s.EventsNotKept} events to stay within its bounds`;
    document.body.dataset.mode = "file";
    return;
  }
  document.body.dataset.mode = "live";
  setNames(names, false);
  const es = new EventSource("events");
  es.onopen = () => ($("stream-status").textContent = "live");
  es.onerror = () => ($("stream-status").textContent = "reconnecting…");
  es.addEventListener("reset", () => {
    reset();
    schedule();
  });
  es.onmessage = (m) => {
    add(JSON.parse(m.data));
    schedule();
  };
  render();
}

start();

"""The page's stylesheet and its one small script, served from memory (no CDN, no fonts to
fetch: the device is offline). Kept in Python so they ship with the package's modules."""

CSS = """
:root { --fg:#1b1f24; --muted:#5b6570; --bg:#f4f5f7; --card:#fff; --line:#d9dde2;
  --good:#17803d; --warn:#a15c00; --bad:#b42318; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--fg); background:var(--bg); }
a { color:var(--accent); }
main { padding: 0 16px 32px; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: .6rem 0; } h2 { font-size: 1.15rem; margin: 0 0 .6rem; }
h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
.top { display:flex; gap:12px; align-items:baseline; padding:10px 16px; background:#14263b; color:#fff; }
.top .brand { color:#fff; font-weight:700; text-decoration:none; font-size:1.1rem; }
.top .device { color:#b9c6d3; font-size:.9rem; }
.statusbar { display:flex; flex-wrap:wrap; gap:6px 18px; padding:6px 16px; background:#e3e8ee;
  font-size:.88rem; border-bottom:1px solid var(--line); }
.statusbar .good::before, .statusbar .bad::before { content:"\\25CF "; }
.good { color:var(--good); } .warn { color:var(--warn); } .bad { color:var(--bad); }
.muted { color:var(--muted); font-size:.9rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px;
  margin: 12px 0; }
.cols { display:grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
.cols.detail { grid-template-columns: 3fr 2fr; }
@media (max-width: 800px) { .cols, .cols.detail { grid-template-columns: 1fr; } }
.row { display:flex; flex-wrap:wrap; gap:8px; align-items:center; }
input, select, button, .button { font: inherit; padding: 10px 12px; border-radius:8px;
  border:1px solid #aeb6bf; background:#fff; min-height:44px; }
input[name=claim], #field-value { flex: 1 1 14em; }
button, .button { background:#e9eef4; cursor:pointer; display:inline-block; }
button[type=submit], .button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
.crumbs { margin:.8rem 0 0; color:var(--muted); }
.claims { list-style:none; padding:0; }
.claims li { margin:.3rem 0; padding:8px 4px; border-bottom:1px solid #eceff2; }
.next { font-size:1.35rem; padding:16px 18px; border-radius:10px; margin:10px 0;
  background:#fff4e5; border:2px solid #f0a202; }
.next.missing { background:#fdecea; border-color:var(--bad); }
.next.done { background:#e7f6ec; border-color:var(--good); font-size:1.1rem; }
.next .label { text-transform:uppercase; font-size:.8rem; letter-spacing:.08em; color:var(--muted);
  display:block; }
.next .why { display:block; font-size:1rem; color:var(--muted); }
.progress { margin:.2rem 0 .5rem; }
.checklist { list-style:none; padding:0; margin:0; }
.ck { display:grid; grid-template-columns: 6.5em 1fr; gap:0 10px; padding:7px 4px;
  border-bottom:1px solid #eceff2; align-items:baseline; }
.ck .detail { grid-column:2; color:var(--muted); font-size:.9rem; }
.ck a { grid-column:2; font-size:.9rem; }
.ck.is-next { background:#fff8e6; }
.badge { font-size:.8rem; font-weight:600; border-radius:999px; padding:2px 8px; text-align:center; }
.ck.present .badge { background:#dff3e6; color:var(--good); }
.ck.missing .badge { background:#fde2df; color:var(--bad); }
.ck.invalid .badge, .ck.retake .badge { background:#fdebd3; color:#8a4b00; }
.ck.doubtful .badge { background:#fff3c4; color:#6b5400; }
.drop { border:2px dashed #9aa7b4; border-radius:10px; padding:14px; text-align:center; }
.drop.over { border-color:var(--accent); background:#eaf2fb; }
.file { position:absolute; width:1px; height:1px; opacity:0; }
.jobs { list-style:none; padding:0; margin:10px 0 0; }
.job { padding:6px 4px; border-bottom:1px solid #eceff2; }
.job .name { font-weight:600; word-break:break-all; }
.job .state { font-size:.85rem; border-radius:999px; padding:1px 8px; background:#e9eef4; }
.job.processing .state, .job.queued .state { background:#fff3c4; }
.job.filed .state, .job.already .state { background:#dff3e6; color:var(--good); }
.job.failed .state { background:#fde2df; color:var(--bad); }
.job.sending { color:var(--muted); }
.job .detail { display:block; font-size:.9rem; }
.job.failed .detail { color:var(--bad); }
.msg { padding:8px 12px; border-radius:8px; }
.msg.error { background:#fde2df; color:var(--bad); }
.msg.ok { background:#dff3e6; color:var(--good); }
.grid { display:grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap:10px; }
.thumb { display:block; text-decoration:none; color:var(--fg); border:1px solid var(--line);
  border-radius:8px; overflow:hidden; background:#fafafa; }
.thumb img { width:100%; height:120px; object-fit:cover; display:block; background:#ddd; }
.thumb .cap { display:block; padding:4px 6px; font-size:.85rem; }
.thumb .gone { display:flex; height:120px; align-items:center; justify-content:center;
  text-align:center; padding:8px; background:#e9eef4; color:var(--muted); font-size:.85rem; }
.thumb .q { display:block; }
.figure { position:relative; width:100%; }
.figure img { width:100%; height:auto; display:block; }
.overlay { position:absolute; inset:0; width:100%; height:100%; }
.overlay rect, .overlay polygon { fill:none; vector-effect:non-scaling-stroke; }
.overlay polygon { stroke-dasharray: 6 3; }
.overlay text { font-weight:700; paint-order:stroke; stroke:#fff; stroke-width:3px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:5px 6px; border-bottom:1px solid #eceff2; vertical-align:top; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
tr.operator td.value { font-weight:700; }
tr.in-use { background:#f3f8ff; }
#correct { margin-top:12px; }
"""

JS = r"""
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var body = document.body;
  var live = body.dataset.live;
  var maxUpload = parseInt(body.dataset.maxUpload || "0", 10);
  var timer = null;

  function swap(id, html) {
    var el = document.getElementById(id);
    if (el && html !== undefined && el.innerHTML !== html) el.innerHTML = html;
  }
  function refresh() {
    if (!live) return;
    clearTimeout(timer);
    fetch(live, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (d) {
          ["next", "checklist", "jobs", "photos", "statusbar"].forEach(function (k) { swap(k, d[k]); });
          body.dataset.busy = d.busy ? "1" : "0";
        }
        timer = setTimeout(refresh, d && d.busy ? 800 : 5000);
      })
      .catch(function () { timer = setTimeout(refresh, 5000); });
  }
  function message(text) {
    var box = document.getElementById("upload-msgs");
    var p = document.createElement("p");
    p.className = "msg error"; p.setAttribute("role", "alert"); p.textContent = text;
    box.insertBefore(p, box.firstChild);
    while (box.children.length > 5) box.removeChild(box.lastChild);
  }
  function mb(n) { return (n / 1048576).toFixed(1) + " MB"; }
  function upload(file) {
    if (maxUpload && file.size > maxUpload) {
      message(file.name + ": not added: the file is larger than the profile allows (" +
              mb(file.size) + ", limit " + mb(maxUpload) + ") (file_too_large)");
      return Promise.resolve();
    }
    var sending = document.createElement("li");
    sending.className = "job sending";
    sending.textContent = file.name + ": sending " + mb(file.size) + "…";
    document.getElementById("sending").appendChild(sending);
    var headers = {"Accept": "application/json", "X-CSRF-Token": csrf,
                   "Content-Type": "application/octet-stream",
                   "X-File-Name": encodeURIComponent(file.name)};
    return fetch(live.replace(/\/live$/, "/photos"),
                 {method: "POST", body: file, credentials: "same-origin", headers: headers})
      .then(function (r) {
        return r.json().catch(function () { return {error: {message: "HTTP " + r.status}}; });
      })
      .then(function (d) {
        if (d.error && !d.jobs) message(file.name + ": not added: " + d.error.message);
        refresh();
      })
      .catch(function () { message(file.name + ": not sent: the device did not answer"); })
      .then(function () { sending.remove(); });
  }
  function uploadAll(files) {
    var list = Array.prototype.slice.call(files);
    var chain = Promise.resolve();
    list.forEach(function (f) { chain = chain.then(function () { return upload(f); }); });
    return chain;
  }
  var form = document.getElementById("upload");
  if (form) {
    form.querySelectorAll("input[type=file]").forEach(function (inp) {
      inp.addEventListener("change", function () { uploadAll(inp.files).then(function () { inp.value = ""; }); });
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      form.querySelectorAll("input[type=file]").forEach(function (inp) { uploadAll(inp.files); });
    });
    var drop = document.getElementById("drop");
    ["dragenter", "dragover"].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) { uploadAll(e.dataTransfer.files); });
    document.addEventListener("dragover", function (e) { e.preventDefault(); });
    document.addEventListener("drop", function (e) { e.preventDefault(); });
  }
  if (live) timer = setTimeout(refresh, 1500);
  else if (document.getElementById("statusbar")) {
    setInterval(function () {
      fetch("/status/bar", {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) { if (d) swap("statusbar", d.statusbar); })
        .catch(function () {});
    }, 10000);
  }
})();
"""

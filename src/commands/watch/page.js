// The live preview page. Everything it shows comes from the server's scriptable routes
// (/status.json, /email.*, /subscribers.json, /events); it never holds the subscriber list.
"use strict";

const view = { email: "", noName: false, width: "600", scheme: "light", images: true, tab: "email" };
let shownVersion = -1;
const $ = (id) => document.getElementById(id);

function query(extra) {
  const params = new URLSearchParams();
  if (view.email) params.set("for", view.email);
  if (view.noName) params.set("no_name", "1");
  for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
  return params.toString();
}

function where(problem) {
  const parts = [];
  if (problem.file) parts.push(problem.file);
  if (problem.line) parts.push("line " + problem.line);
  if (problem.column) parts.push("column " + problem.column);
  if (problem.field) parts.push("field `" + problem.field + "`");
  return parts.join(", ");
}

function item(problem) {
  const li = document.createElement("li");
  const at = where(problem);
  if (at) {
    const span = document.createElement("span");
    span.className = "where";
    span.textContent = (problem.rule ? "[" + problem.rule + "] " : "") + at;
    li.appendChild(span);
  } else if (problem.rule) {
    li.appendChild(document.createTextNode("[" + problem.rule + "] "));
  }
  li.appendChild(document.createTextNode(problem.message));
  return li;
}

async function refresh() {
  const response = await fetch("/status.json", { cache: "no-store" });
  const status = await response.json();
  const errors = status.errors || [];
  const state = $("state");
  state.textContent = status.version === 0 ? "building…" :
    "version " + status.version + (errors.length ? " · error" : " · up to date");
  state.classList.toggle("bad", errors.length > 0);
  document.body.dataset.version = String(status.version);
  const list = $("error-list");
  list.replaceChildren(...errors.map((problem) => item(problem)));
  $("error").hidden = errors.length === 0;
  const warnings = status.warnings || [];
  $("warnings").replaceChildren(...warnings.map((problem) => item(problem)));
  $("warning-count").textContent = "(" + warnings.length + ")";
  $("inbox-from").textContent = status.from || "";
  $("inbox-subject").textContent = status.subject || "";
  $("inbox-preheader").textContent = status.preheader ? "— " + status.preheader : "";
  if (!view.email && !view.noName) $("who").textContent = status.first ? "first subscriber: " + status.first : "";
  if (status.good_version !== shownVersion) {
    shownVersion = status.good_version;
    await redraw();
  }
}

async function redraw() {
  if (shownVersion <= 0) return;
  const v = "v=" + shownVersion;
  const frame = $("frame");
  frame.style.width = view.width + "px";
  frame.style.colorScheme = view.scheme;
  frame.src = "/email.html?" + query({ scheme: view.scheme, images: view.images ? "on" : "off" }) + "&" + v;
  $("web").src = "/web.html?" + v;
  $("download").href = "/email.eml?" + query({ download: "1" });
  const eml = await fetch("/email.eml?" + query() + "&" + v, { cache: "no-store" });
  if (!eml.ok) {
    $("size").textContent = await eml.text();
    return;
  }
  const raw = await eml.text();
  const bytes = Number(eml.headers.get("x-message-bytes"));
  const html = Number(eml.headers.get("x-html-bytes"));
  const limit = 102 * 1024;
  const size = $("size");
  size.textContent = "Message " + (bytes / 1024).toFixed(1) + " KB, HTML part " + (html / 1024).toFixed(1) +
    " KB; Gmail clips messages over about 102 KB" + (bytes > limit ? " — this one will be clipped" : "");
  size.classList.toggle("over", bytes > limit);
  $("raw").textContent = raw;
  const end = raw.search(/\r?\n\r?\n/);
  $("headers").textContent = end < 0 ? raw : raw.slice(0, end);
  const text = await fetch("/email.txt?" + query() + "&" + v, { cache: "no-store" });
  $("text").textContent = await text.text();
}

function choose(email, noName, label) {
  view.email = email;
  view.noName = noName;
  $("who").textContent = label;
  $("results").hidden = true;
  redraw();
}

let searchTimer = 0;
async function search() {
  const words = $("search").value;
  const response = await fetch("/subscribers.json?q=" + encodeURIComponent(words), { cache: "no-store" });
  if (!response.ok) return;
  const answer = await response.json();
  const results = $("results");
  const entries = [];
  const entry = (label, email, noName) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", () => choose(email, noName, label));
    entries.push(button);
  };
  entry("First subscriber", "", false);
  entry("No name (the greeting's fallback)", view.email, true);
  for (const found of answer.found) {
    entry((found.name ? found.name + " " : "") + "<" + found.email + ">  · line " + found.line, found.email, false);
  }
  const note = document.createElement("div");
  note.className = "note";
  note.textContent = answer.found.length + " shown of " + answer.total + " recipients; type to narrow";
  entries.push(note);
  results.replaceChildren(...entries);
  results.hidden = false;
}

function setOn(selector, button) {
  for (const other of document.querySelectorAll(selector)) other.classList.toggle("on", other === button);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-width]")) {
    button.addEventListener("click", () => { view.width = button.dataset.width; setOn("[data-width]", button); redraw(); });
  }
  for (const button of document.querySelectorAll("[data-scheme]")) {
    button.addEventListener("click", () => { view.scheme = button.dataset.scheme; setOn("[data-scheme]", button); redraw(); });
  }
  $("images").addEventListener("click", () => {
    view.images = !view.images;
    const button = $("images");
    button.textContent = view.images ? "Images on" : "Images off";
    button.classList.toggle("on", view.images);
    button.setAttribute("aria-pressed", String(view.images));
    redraw();
  });
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => {
      view.tab = button.dataset.tab;
      setOn("[data-tab]", button);
      for (const pane of document.querySelectorAll(".pane")) pane.hidden = pane.id !== "pane-" + view.tab;
    });
  }
  $("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 120); });
  $("search").addEventListener("focus", search);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") $("results").hidden = true; });
  $("test-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const address = $("test-address").value.trim();
    if (address) choose(address, false, "test address: " + address);
  });
  const events = new EventSource("/events");
  events.addEventListener("version", () => refresh());
  events.onerror = () => { $("state").textContent = "disconnected: is newsletter still running?"; };
  refresh();
});

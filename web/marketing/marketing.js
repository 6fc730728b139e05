// Crocevia marketing signals: /api/marketing/overview draws sentiment and volume by channel
// per week, segment sizes and the lifecycle funnel (SVG and CSS, no chart library);
// /api/segments saves segments; /api/signals/export downloads CSV or NDJSON.
// Marketing never sees message text: nothing here asks for it.
import { el, makeApi } from "../console/http.js";
import { language, setLanguage } from "../console/i18n.js";

const TEXTS = {
  it: {
    email: "Email", password: "Password", login: "Accedi", title: "Segnali marketing", period: "Periodo",
    weeks4: "4 settimane", weeks12: "12 settimane", weeks26: "26 settimane", export: "Esporta",
    all_contacts: "Tutti i contatti", received: "messaggi ricevuti", sent: "risposte inviate",
    avg_sentiment: "sentiment medio", channels_used: "canali attivi",
    sentiment_by_channel: "Sentiment per canale, settimana per settimana", volume_by_channel: "Volume per canale (messaggi ricevuti e inviati)",
    segments: "Segmenti", new_segment: "Nuovo segmento", segment_name: "Nome del segmento", value: "Valore",
    save: "Salva", funnel: "Funnel del ciclo di vita", funnel_note: "Contatti entrati in ogni fase nel periodo.",
    lead: "Lead", prospect: "Prospect", customer: "Cliente", churned: "Perso", no_segments: "Nessun segmento salvato",
    no_data: "Nessun messaggio nel periodo", week_of: "settimana del %s", forbidden: "Questa pagina è per marketing, team lead e admin",
    sentiment_current: "sentiment attuale", sentiment_avg_30d: "sentiment medio 30 g", sentiment_avg_90d: "sentiment medio 90 g",
    negative_streak: "messaggi negativi di fila", messages_in: "messaggi ricevuti", messages_out: "risposte inviate",
    first_response_median_s: "prima risposta (s, mediana)", csat_avg: "CSAT medio", csat_count: "risposte CSAT",
    sentiment_trend: "andamento", lifecycle_stage: "fase", channels: "canali", labels: "etichette",
    first_interaction: "primo contatto", last_interaction: "ultimo contatto",
    older_than_days: "più di N giorni fa", within_days: "negli ultimi N giorni", contains: "contiene", not_contains: "non contiene",
    is_null: "assente", not_null: "presente", is_empty: "vuoto", not_empty: "non vuoto", in: "uno tra (a, b)", not_in: "nessuno tra (a, b)",
    edit: "Modifica", delete: "Elimina", cancel: "Annulla", match: "Contatti che soddisfano", match_all: "tutte le condizioni",
    match_any: "almeno una condizione", add_condition: "+ condizione", remove: "Togli", edit_segment: "Modifica segmento",
    members_of: "%s contatti", no_members: "Nessun contatto in questo segmento", nested_rules: "Regole complesse: modificabili solo dall'API",
    ch_website: "Web", ch_telegram: "Telegram", ch_email: "Email", ch_x: "X", ch_messenger: "Messenger",
    ch_instagram: "Instagram", ch_whatsapp: "WhatsApp", ch_api: "App", rising: "in crescita", falling: "in calo", stable: "stabile",
    bad_number: "Scrivi un numero, come -0,2", deleted: "Segmento eliminato",
  },
  en: {
    email: "Email", password: "Password", login: "Log in", title: "Marketing signals", period: "Period",
    weeks4: "4 weeks", weeks12: "12 weeks", weeks26: "26 weeks", export: "Export",
    all_contacts: "All contacts", received: "messages received", sent: "replies sent",
    avg_sentiment: "average sentiment", channels_used: "active channels",
    sentiment_by_channel: "Sentiment by channel, week by week", volume_by_channel: "Volume by channel (messages received and sent)",
    segments: "Segments", new_segment: "New segment", segment_name: "Segment name", value: "Value",
    save: "Save", funnel: "Lifecycle funnel", funnel_note: "Contacts who entered each stage in the period.",
    lead: "Lead", prospect: "Prospect", customer: "Customer", churned: "Churned", no_segments: "No saved segments",
    no_data: "No messages in the period", week_of: "week of %s", forbidden: "This page is for marketing, team leads and admins",
    sentiment_current: "current sentiment", sentiment_avg_30d: "30-day sentiment", sentiment_avg_90d: "90-day sentiment",
    negative_streak: "negative messages in a row", messages_in: "messages received", messages_out: "replies sent",
    first_response_median_s: "first response (s, median)", csat_avg: "average CSAT", csat_count: "CSAT answers",
    sentiment_trend: "trend", lifecycle_stage: "stage", channels: "channels", labels: "labels",
    first_interaction: "first contact", last_interaction: "last contact",
    older_than_days: "more than N days ago", within_days: "in the last N days", contains: "contains", not_contains: "does not contain",
    is_null: "missing", not_null: "present", is_empty: "empty", not_empty: "not empty", in: "one of (a, b)", not_in: "none of (a, b)",
    edit: "Edit", delete: "Delete", cancel: "Cancel", match: "Contacts matching", match_all: "all conditions",
    match_any: "any condition", add_condition: "+ condition", remove: "Remove", edit_segment: "Edit segment",
    members_of: "%s contacts", no_members: "No contacts in this segment", nested_rules: "Complex rules: editable through the API only",
    ch_website: "Web", ch_telegram: "Telegram", ch_email: "Email", ch_x: "X", ch_messenger: "Messenger",
    ch_instagram: "Instagram", ch_whatsapp: "WhatsApp", ch_api: "App", rising: "rising", falling: "falling", stable: "stable",
    bad_number: "Write a number, like -0.2", deleted: "Segment deleted",
  },
};
const m = (key, arg) => {
  const text = (TEXTS[language()] || TEXTS.it)[key] ?? TEXTS.it[key] ?? key;
  return arg === undefined ? text : text.replace("%s", arg);
};
function translate() {
  for (const n of document.querySelectorAll("[data-m]")) n.textContent = m(n.dataset.m);
  for (const n of document.querySelectorAll("[data-m-ph]")) n.placeholder = m(n.dataset.mPh);
}

const KINDS = {
  sentiment_avg_30d: "number", sentiment_avg_90d: "number", sentiment_current: "number", negative_streak: "number",
  messages_in: "number", messages_out: "number", first_response_median_s: "number", csat_avg: "number", csat_count: "number",
  sentiment_trend: "text", lifecycle_stage: "text", channels: "list", labels: "list",
  first_interaction: "time", last_interaction: "time",
};
const OPS = {
  number: ["<", "<=", ">", ">=", "=", "!=", "is_null", "not_null"],
  text: ["=", "!=", "in", "not_in", "is_null", "not_null"],
  list: ["contains", "not_contains", "is_empty", "not_empty"],
  time: ["older_than_days", "within_days", "is_null", "not_null"],
};
const NO_VALUE = new Set(["is_null", "not_null", "is_empty", "not_empty"]);
const COLORS = { website: "#0b6e4f", telegram: "#229ed9", email: "#7c3aed", whatsapp: "#25a244", instagram: "#c13584",
  messenger: "#0084ff", facebook: "#1877f2", x: "#111827", api: "#b45309" };
const SPARE = ["#f59e0b", "#ef4444", "#14b8a6", "#8b5cf6", "#64748b"];
const FUNNEL = { lead: "#94a3b8", prospect: "#0ea5e9", customer: "#0b6e4f", churned: "#b91c1c" };
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("crocevia:token"), agent: null, data: null, segment: null, editing: null };

const api = makeApi(() => state.token, () => logout());

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = text;
  return e;
}

function logout() {
  sessionStorage.removeItem("crocevia:token"); state.token = null;
  $("app").hidden = true; $("login").hidden = false;
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    const r = await api("/api/auth/login", { method: "POST", body: JSON.stringify({ email: f.get("email"), password: f.get("password") }) });
    state.token = r.token; sessionStorage.setItem("crocevia:token", r.token);
    await boot();
  } catch (err) { $("login-error").textContent = err.message; }
});

async function boot() {
  state.agent = await api("/api/me");
  setLanguage(state.agent.language); translate();
  if (!["marketing", "lead", "admin"].includes(state.agent.role)) { logout(); $("login-error").textContent = m("forbidden"); return; }
  $("login").hidden = true; $("app").hidden = false;
  fillSignals();
  await load();
}

// ---- data -------------------------------------------------------------------------------

function period() {
  const to = new Date();
  const from = new Date(to.getTime() - (+$("period").value) * 7 * 86400e3);
  return new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
}

async function load() {
  state.data = await api(`/api/marketing/overview?${period()}`);
  render(state.data);
}

function color(channel, i) { return COLORS[channel] || SPARE[i % SPARE.length]; }

function fmtWeek(iso) {
  return new Date(`${iso}T00:00:00Z`).toLocaleDateString(language(), { day: "numeric", month: "short", timeZone: "UTC" });
}

function render(d) {
  const sum = (key) => d.channels.reduce((n, c) => n + c[key].reduce((a, b) => a + b, 0), 0);
  $("k-in").textContent = sum("messages_in").toLocaleString(language());
  $("k-out").textContent = sum("messages_out").toLocaleString(language());
  let weighted = 0, scored = 0;
  for (const c of d.channels) c.sentiment.forEach((s, i) => { if (s != null) { weighted += s * c.scored[i]; scored += c.scored[i]; } });
  const avg = scored ? weighted / scored : null;
  $("k-sentiment").textContent = avg == null ? "—" : (avg > 0 ? "+" : "") + avg.toLocaleString(language(), { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  $("k-sentiment").className = `big ${avg == null ? "" : avg < -0.05 ? "bad" : avg > 0.05 ? "good" : ""}`;
  $("k-channels").textContent = String(d.channels.filter((c) => c.messages_in.some((n) => n) || c.messages_out.some((n) => n)).length);
  lineChart(d);
  barChart(d);
  segmentBars(d.segments);
  funnel(d.funnel);
  legends(d);
}

// ---- charts -----------------------------------------------------------------------------

const W = 960, H = 240, PAD = { l: 44, r: 16, t: 12, b: 28 };

function frame(box, weeks) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMidYMid meet" });
  const step = (W - PAD.l - PAD.r) / Math.max(weeks.length, 1);
  const every = Math.ceil(weeks.length / 12);
  weeks.forEach((w, i) => {
    if (i % every === 0) root.append(svg("text", { x: PAD.l + step * (i + 0.5), y: H - 8, "text-anchor": "middle", class: "tick" }, fmtWeek(w)));
  });
  box.replaceChildren(root);
  return { root, step };
}

function lineChart(d) {
  const { root, step } = frame($("sentiment"), d.weeks);
  const y = (v) => PAD.t + ((1 - v) / 2) * (H - PAD.t - PAD.b);
  for (const v of [1, 0.5, 0, -0.5, -1]) {
    root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: v === 0 ? "zero" : "axis" }));
    root.append(svg("text", { x: PAD.l - 8, y: y(v) + 4, "text-anchor": "end", class: "tick" }, (v > 0 ? "+" : "") + v));
  }
  const withData = d.channels.filter((c) => c.sentiment.some((s) => s != null));
  if (!withData.length) root.append(svg("text", { x: W / 2, y: H / 2 - 10, "text-anchor": "middle", class: "empty" }, m("no_data")));
  d.channels.forEach((c, ci) => {
    if (!c.sentiment.some((s) => s != null)) return;
    let path = "", pen = false;
    c.sentiment.forEach((s, i) => {
      if (s == null) { pen = false; return; }
      path += `${pen ? "L" : "M"}${(PAD.l + step * (i + 0.5)).toFixed(1)},${y(s).toFixed(1)}`;
      pen = true;
    });
    const line = svg("path", { d: path, class: "line", stroke: color(c.channel, ci) });
    line.dataset.channel = c.channel;
    root.append(line);
    c.sentiment.forEach((s, i) => {
      if (s == null) return;
      const dot = svg("circle", { cx: PAD.l + step * (i + 0.5), cy: y(s), r: 4, fill: color(c.channel, ci) });
      dot.append(svg("title", {}, `${c.channel} · ${m("week_of", fmtWeek(d.weeks[i]))}: ${s > 0 ? "+" : ""}${s} (${c.scored[i]})`));
      root.append(dot);
    });
  });
  $("sentiment").setAttribute("aria-label", m("sentiment_by_channel"));
}

function barChart(d) {
  const { root, step } = frame($("volume"), d.weeks);
  const totals = d.weeks.map((_, i) => d.channels.reduce((n, c) => n + c.messages_in[i] + c.messages_out[i], 0));
  const max = Math.max(1, ...totals);
  const nice = niceMax(max);
  const y = (v) => H - PAD.b - (v / nice) * (H - PAD.t - PAD.b);
  for (const f of [0, 0.5, 1]) {
    root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y(nice * f), y2: y(nice * f), class: "axis" }));
    root.append(svg("text", { x: PAD.l - 8, y: y(nice * f) + 4, "text-anchor": "end", class: "tick" }, String(Math.round(nice * f))));
  }
  if (!totals.some((n) => n)) root.append(svg("text", { x: W / 2, y: H / 2 - 10, "text-anchor": "middle", class: "empty" }, m("no_data")));
  const bw = Math.min(36, step * 0.6);
  d.weeks.forEach((w, i) => {
    let base = 0;
    d.channels.forEach((c, ci) => {
      const n = c.messages_in[i] + c.messages_out[i];
      if (!n) return;
      const rect = svg("rect", { x: PAD.l + step * (i + 0.5) - bw / 2, y: y(base + n), width: bw,
        height: Math.max(1, y(base) - y(base + n)), rx: 2, fill: color(c.channel, ci), class: "bar" });
      rect.dataset.channel = c.channel;
      rect.append(svg("title", {}, `${c.channel} · ${m("week_of", fmtWeek(w))}: ${c.messages_in[i]} ↓ ${c.messages_out[i]} ↑`));
      root.append(rect);
      base += n;
    });
  });
  $("volume").setAttribute("aria-label", m("volume_by_channel"));
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

function legends(d) {
  for (const id of ["legend-sentiment", "legend-volume"]) {
    $(id).replaceChildren(...d.channels.map((c, ci) => {
      const s = el("span", null, c.channel); s.style.setProperty("--c", color(c.channel, ci)); return s;
    }));
  }
}

function segmentBars(segments) {
  const max = Math.max(1, ...segments.map((s) => s.count));
  const items = segments.map((s) => {
    const li = el("li", "seg-row"); li.dataset.id = s.id; li.tabIndex = 0;
    if (state.segment?.id === s.id) li.setAttribute("aria-current", "true");
    li.addEventListener("click", () => showSegment(s.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") showSegment(s.id); });
    const track = el("span", "track"); const fill = el("span", "fill");
    fill.style.width = `${(100 * s.count) / max}%`; track.append(fill);
    const name = el("span", "name", s.name); name.title = s.name;
    li.append(name, track, el("span", "n", s.count.toLocaleString(language())));
    return li;
  });
  $("segments").replaceChildren(...(items.length ? items : [el("li", "none", m("no_segments"))]));
  const pick = $("export-segment"); const chosen = pick.value;
  pick.replaceChildren(new Option(m("all_contacts"), ""), ...segments.map((s) => new Option(s.name, s.name)));
  pick.value = segments.some((s) => s.name === chosen) ? chosen : "";
}

function funnel(stages) {
  const max = Math.max(1, ...stages.map((s) => s.count));
  const first = stages[0]?.count || 0;
  $("funnel").replaceChildren(...stages.map((s, i) => {
    const row = el("div", "stage"); row.dataset.stage = s.stage;
    row.style.width = `${40 + (60 * s.count) / max}%`;
    row.style.background = FUNNEL[s.stage] || SPARE[i % SPARE.length];
    const rate = i > 0 && first && s.stage !== "churned" ? ` · ${Math.round((100 * s.count) / first)}%` : "";
    row.append(el("span", null, m(s.stage)), el("span", "rate", `${s.count.toLocaleString(language())}${rate}`));
    return row;
  }));
}

// ---- segments -----------------------------------------------------------------------------
// A segment is edited as conditions joined by "all" or "any". Values are shown and typed as
// the reader reads them: stages and channels by name ("Cliente", "Web"), numbers with the
// reader's decimal mark ("-0,2"); rules nested deeper than that are left to the API.

const CHOICES = {
  lifecycle_stage: ["lead", "prospect", "customer", "churned"],
  sentiment_trend: ["rising", "falling", "stable"],
  channels: ["website", "telegram", "email", "whatsapp", "messenger", "instagram", "x", "api"],
};
const choiceLabel = (signal, v) => (signal === "channels" ? m(`ch_${v}`) : m(v));

function numberText(n) { return n == null ? "" : n.toLocaleString(language(), { maximumFractionDigits: 4 }); }
function parseNumber(text) {
  const clean = text.trim().replace(/\s/g, "").replace(/[.](?=\d{3}(\D|$))/g, "").replace(",", ".");
  const n = Number(clean);
  if (clean === "" || !Number.isFinite(n)) throw new Error(m("bad_number"));
  return n;
}

function conditionRow(rule = { signal: "sentiment_avg_30d", op: "<" }) {
  const row = el("div", "cond");
  const signal = el("select"); signal.name = "signal"; signal.setAttribute("aria-label", m("value"));
  signal.replaceChildren(...Object.keys(KINDS).map((k) => new Option(m(k), k)));
  signal.value = rule.signal;
  const op = el("select"); op.name = "op";
  const valueBox = el("span", "value-box");
  const remove = el("button", null, "×"); remove.type = "button"; remove.setAttribute("aria-label", m("remove"));
  remove.addEventListener("click", () => { row.remove(); if (!$("conditions").children.length) $("conditions").append(conditionRow()); });
  const fillOps = () => {
    op.replaceChildren(...OPS[KINDS[signal.value]].map((o) => new Option(/^[<>=!]/.test(o) ? o : m(o), o)));
    if (OPS[KINDS[signal.value]].includes(rule.op)) op.value = rule.op;
    fillValue();
  };
  const fillValue = () => {
    const kind = KINDS[signal.value], choices = CHOICES[signal.value];
    let input;
    if (NO_VALUE.has(op.value)) input = null;
    else if (choices && !["in", "not_in"].includes(op.value)) {
      input = el("select"); input.replaceChildren(...choices.map((v) => new Option(choiceLabel(signal.value, v), v)));
      if (choices.includes(rule.value)) input.value = rule.value;
    } else {
      input = el("input"); input.placeholder = m("value");
      const v = rule.signal === signal.value ? rule.value : undefined;
      if (Array.isArray(v)) input.value = v.map((x) => (choices ? choiceLabel(signal.value, x) : x)).join(", ");
      else if (v != null) input.value = kind === "number" ? numberText(v) : String(v);
      if (kind === "number" || kind === "time") input.inputMode = "decimal";
    }
    if (input) { input.name = "value"; input.setAttribute("aria-label", m("value")); }
    valueBox.replaceChildren(...(input ? [input] : []));
  };
  signal.addEventListener("change", () => { rule = { signal: signal.value }; fillOps(); });
  op.addEventListener("change", fillValue);
  fillOps();
  row.append(signal, op, valueBox, remove);
  return row;
}

function ruleOf(row) {
  const signal = row.querySelector("[name=signal]").value, op = row.querySelector("[name=op]").value;
  const rule = { signal, op };
  if (NO_VALUE.has(op)) return rule;
  const input = row.querySelector("[name=value]"), kind = KINDS[signal], choices = CHOICES[signal];
  if (["in", "not_in"].includes(op)) {
    const parts = input.value.split(",").map((x) => x.trim()).filter(Boolean);
    rule.value = parts.map((x) => (choices ? choices.find((c) => choiceLabel(signal, c).toLowerCase() === x.toLowerCase()) || x : x));
  } else rule.value = kind === "number" || kind === "time" ? parseNumber(input.value) : input.value;
  return rule;
}

function editorFor(rules) {
  const group = rules.all ? "all" : rules.any ? "any" : null;
  const items = group ? rules[group] : [rules];
  if (items.some((r) => !r.signal)) return null; // nested groups or "not": the API's job
  return { match: group || "all", items };
}

function resetForm() {
  state.editing = null;
  const f = $("segment-form"); f.reset();
  $("segment-form-title").textContent = m("new_segment");
  $("segment-cancel").hidden = true; $("segment-error").textContent = "";
  $("conditions").replaceChildren(conditionRow());
}

async function showSegment(id) {
  const [seg, page] = await Promise.all([api(`/api/segments/${id}`), api(`/api/segments/${id}/members?limit=50`)]);
  state.segment = seg;
  $("segment-detail").hidden = false;
  $("segment-title").textContent = `${seg.name} · ${m("members_of", seg.count.toLocaleString(language()))}`;
  $("segment-members").replaceChildren(...(page.members.length ? page.members.map((c) => {
    const li = el("li", null, c.name || c.email || `#${c.contact_id}`);
    if (c.email && c.name) li.append(el("span", "muted", ` · ${c.email}`));
    return li;
  }) : [el("li", "muted", m("no_members"))]));
  segmentBars(state.data.segments);
}

$("segment-edit").addEventListener("click", () => {
  const seg = state.segment; if (!seg) return;
  const editor = editorFor(seg.rules);
  if (!editor) { $("segment-error").textContent = m("nested_rules"); return; }
  state.editing = seg.id;
  const f = $("segment-form");
  f.elements.name.value = seg.name; f.elements.match.value = editor.match;
  $("conditions").replaceChildren(...editor.items.map((r) => conditionRow(r)));
  $("segment-form-title").textContent = m("edit_segment"); $("segment-cancel").hidden = false;
  f.elements.name.focus();
});
$("segment-delete").addEventListener("click", async () => {
  const seg = state.segment; if (!seg) return;
  try {
    await api(`/api/segments/${seg.id}`, { method: "DELETE" });
    state.segment = null; $("segment-detail").hidden = true; resetForm();
    $("segment-error").textContent = m("deleted");
    await load();
  } catch (err) { $("segment-error").textContent = err.message; }
});
$("segment-cancel").addEventListener("click", resetForm);
$("add-condition").addEventListener("click", () => $("conditions").append(conditionRow()));

function fillSignals() { resetForm(); }

$("segment-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  let rules;
  try {
    rules = { [f.elements.match.value]: [...$("conditions").children].map(ruleOf) };
  } catch (err) { $("segment-error").textContent = err.message; return; }
  const body = JSON.stringify({ name: f.elements.name.value.trim(), rules });
  try {
    const saved = state.editing
      ? await api(`/api/segments/${state.editing}`, { method: "PATCH", body })
      : await api("/api/segments", { method: "POST", body });
    resetForm();
    await load();
    await showSegment(saved.id);
  } catch (err) { $("segment-error").textContent = err.message; }
});

// ---- exports ------------------------------------------------------------------------------

async function download(format) {
  const q = new URLSearchParams({ format });
  if ($("export-segment").value) q.set("segment", $("export-segment").value);
  const r = await api(`/api/signals/export?${q}`, { raw: true });
  const url = URL.createObjectURL(await r.blob());
  const a = el("a"); a.href = url;
  a.download = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/)?.[1] || `crocevia-signals.${format}`;
  a.click(); setTimeout(() => URL.revokeObjectURL(url), 1000);
}
$("export-csv").addEventListener("click", () => download("csv"));
$("export-ndjson").addEventListener("click", () => download("ndjson"));
$("period").addEventListener("change", load);

setLanguage(navigator.language?.startsWith("en") ? "en" : "it"); translate();
if (state.token) boot().catch(() => logout());

// Crocevia team lead's live view: /api/live for queues, agents and breaches, /api/reports/*
// for the figures; /ws/agent events trigger a refresh, so the page is live without reloads.
import { el, makeApi } from "../console/http.js";
import { language, setLanguage, t } from "../console/i18n.js";
import { liveSocket } from "../web/shared/live_socket.js";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("crocevia:token"), agent: null,
  lastId: null, live: null, refreshTimer: null, freshBreaches: new Set() };

const api = makeApi(() => state.token, () => logout());

function duration(seconds) {
  if (seconds == null) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(s / 3600);
  return h < 48 ? `${h}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

function logout() {
  sessionStorage.removeItem("crocevia:token"); state.token = null;
  socket.stop();
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
  setLanguage(state.agent.language);
  if (!["lead", "admin"].includes(state.agent.role)) { $("login-error").textContent = "403"; logout(); return; }
  $("login").hidden = true; $("app").hidden = false;
  await Promise.all([loadLive(), loadReports()]);
  socket.open();
  setInterval(tickWaits, 1000);
  setInterval(loadLive, 15000);
}

// ---- live -----------------------------------------------------------------------------

async function loadLive() {
  state.live = await api("/api/live");
  state.live.loadedAt = Date.now();
  renderLive();
}

function renderLive() {
  const live = state.live;
  const teams = new Map(live.queues.map((q) => [q.team_id, q.name]));
  $("queues").tBodies[0].replaceChildren(...live.queues.map((q) => {
    const tr = el("tr");
    tr.append(el("td", null, q.name || "—"), el("td", "num", String(q.waiting)));
    const wait = el("td", "num wait", duration(q.longest_wait_s)); wait.dataset.base = q.longest_wait_s;
    if (q.longest_wait_s > 600) wait.classList.add("long");
    tr.append(wait, el("td", null, t(q.policy)));
    return tr;
  }));
  emptyState($("queues"), t("no_queues"));
  $("agents").tBodies[0].replaceChildren(...live.agents.map((a) => {
    const tr = el("tr"); tr.dataset.id = a.id;
    const who = el("td"); who.append(el("span", `dot ${a.presence}`), a.name);
    const load = el("td", "num"); const meter = el("span", a.load >= a.capacity ? "meter full" : "meter");
    const fill = el("span"); fill.style.width = `${Math.min(100, (100 * a.load) / Math.max(a.capacity, 1))}%`;
    meter.append(fill); load.append(meter, `${a.load}/${a.capacity}`);
    tr.append(who, el("td", null, t(a.presence)), load);
    return tr;
  }));
  emptyState($("agents"), t("no_agents"));
  const items = live.breaches.map((b) => {
    const li = el("li", state.freshBreaches.has(`${b.conversation_id}:${b.kind}`) ? "fresh" : null);
    const link = el("a", null, `#${b.conversation_id}`); // opens the conversation in the console
    link.href = `../console/#conversation=${b.conversation_id}`;
    li.append(link, ` · ${t(b.kind)} · ${t(b.priority)} · ${teams.get(b.team_id) || ""} · ${new Date(b.due_at).toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" })}`);
    li.dataset.conversation = b.conversation_id;
    return li;
  });
  $("breaches").replaceChildren(...(items.length ? items : [el("li", "muted", t("no_breaches"))]));
  if (!items.length) $("breaches").firstChild.className = "none";
  $("k-waiting").textContent = String(live.queues.reduce((n, q) => n + q.waiting, 0));
  $("k-breaches").textContent = String(live.breaches.length);
  const today = live.today;
  $("k-today").textContent = String(today?.conversations ?? 0);
  $("k-first").textContent = duration(today?.first_response?.median);
  $("k-csat").textContent = today?.csat?.average != null ? String(today.csat.average) : "—";
}

// A table with no rows says so, across its width.
function emptyState(table, text) {
  if (table.tBodies[0].rows.length) return;
  const td = el("td", "muted", text); td.colSpan = table.tHead ? table.tHead.rows[0].cells.length : 1;
  const tr = el("tr", "empty"); tr.append(td); table.tBodies[0].append(tr);
}

// A report group's name as the reader reads it: channels and "(none)" translated.
function groupName(g) {
  if (g.name === "(none)" || g.key === "(none)") return t("no_group");
  if ($("group").value === "channel") return t(`ch_${g.key}`);
  return g.name;
}

function tickWaits() { // the longest waits keep growing between refreshes
  if (!state.live) return;
  const extra = (Date.now() - state.live.loadedAt) / 1000;
  for (const td of document.querySelectorAll("td.wait")) {
    const base = +td.dataset.base;
    if (base > 0) { td.textContent = duration(base + extra); td.classList.toggle("long", base + extra > 600); }
  }
}

function refreshSoon() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(loadLive, 300);
  clearTimeout(state.reportTimer); // the report follows too, so it agrees with the cards
  state.reportTimer = setTimeout(loadReports, 1500);
}

const socket = liveSocket({
  url: location.origin.replace(/^http/, "ws") + "/ws/agent",
  auth: () => ({ type: "auth", token: state.token, last_event_id: state.lastId }),
  onFrame: (f) => {
    if (f.type === "ready") $("conn").classList.add("on");
    else if (f.type === "event") {
      state.lastId = f.id;
      if (f.event === "sla.breached") state.freshBreaches.add(`${f.data.conversation.id}:${f.data.breach.kind}`);
      if (/^(conversation|agent|sla)\./.test(f.event) || (f.event === "message.created" && f.data.message?.direction === "in")) refreshSoon();
    } else if (f.type === "resync") { state.lastId = null; loadLive(); }
  },
  onClose: (code) => { $("conn").classList.remove("on"); if (code === 4401) logout(); },
});

// ---- reports --------------------------------------------------------------------------

function period() {
  const days = +$("period").value;
  const to = new Date();
  const from = days === 1 ? new Date(new Date().setHours(0, 0, 0, 0)) : new Date(to.getTime() - days * 86400e3);
  return new URLSearchParams({ from: from.toISOString(), to: to.toISOString() });
}

async function loadReports() {
  const q = period();
  q.set("group_by", $("group").value);
  const [summary, heat] = await Promise.all([api(`/api/reports/summary?${q}`), api(`/api/reports/heatmap?${period()}`)]);
  renderBars(summary.groups);
  renderTable(summary.groups);
  renderHeatmap(heat.cells);
}

function renderBars(groups) {
  const max = Math.max(1, ...groups.map((g) => g.conversations));
  $("bars").replaceChildren(...groups.slice(0, 12).map((g) => {
    const col = el("div", "bar-col");
    const bar = el("div", "b"); bar.style.height = `${Math.round((110 * g.conversations) / max)}px`;
    bar.title = `${groupName(g)}: ${g.conversations}`;
    col.append(el("span", "v", String(g.conversations)), bar, el("span", null, groupName(g)));
    return col;
  }));
}

function renderTable(groups) {
  const head = el("tr");
  for (const k of ["group_by", "conversations_n", "messages_in", "messages_out", "first_response", "resolution", "csat"]) head.append(el("th", null, t(k)));
  $("report").tHead.replaceChildren(head);
  $("report").tBodies[0].replaceChildren(...groups.map((g) => {
    const tr = el("tr");
    tr.append(el("td", null, groupName(g)), el("td", "num", String(g.conversations)), el("td", "num", String(g.messages_in)),
      el("td", "num", String(g.messages_out)),
      el("td", "num", `${duration(g.first_response.median)} · ${t("p90")} ${duration(g.first_response.p90)}`),
      el("td", "num", `${duration(g.resolution.median)} · ${t("p90")} ${duration(g.resolution.p90)}`),
      el("td", "num", g.csat.average != null ? `${g.csat.average} (${g.csat.count})` : "—"));
    return tr;
  }));
  emptyState($("report"), t("no_data"));
  if (!groups.length) $("bars").replaceChildren(el("p", "muted", t("no_data")));
}

function renderHeatmap(cells) {
  const max = Math.max(1, ...cells.flat());
  const days = t("weekdays").split(",");
  const nodes = [el("span")];
  for (let h = 0; h < 24; h++) nodes.push(el("span", "h", h % 3 === 0 ? String(h) : ""));
  cells.forEach((row, d) => {
    nodes.push(el("span", null, days[d]));
    row.forEach((n, h) => {
      const c = el("span", "cell");
      if (n) c.style.background = `rgba(11, 110, 79, ${0.15 + (0.85 * n) / max})`;
      c.title = `${days[d]} ${h}:00 — ${n}`;
      c.dataset.count = n;
      nodes.push(c);
    });
  });
  $("heatmap").replaceChildren(...nodes);
  $("heatmap").setAttribute("aria-label", t("heatmap"));
}

$("period").addEventListener("change", loadReports);
$("group").addEventListener("change", loadReports);
$("csv").addEventListener("click", async () => {
  const q = period(); q.set("group_by", $("group").value);
  const r = await api(`/api/reports/summary.csv?${q}`, { raw: true });
  const url = URL.createObjectURL(await r.blob());
  const a = el("a"); a.href = url;
  a.download = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/)?.[1] || "crocevia-report.csv";
  a.click(); setTimeout(() => URL.revokeObjectURL(url), 1000);
});

setLanguage(navigator.language?.startsWith("en") ? "en" : "it");
if (state.token) boot().catch(() => logout());

// Crocevia agent console: REST for state, /ws/agent for live events (docs/api.md).
// Every text from a customer is put in the page with textContent, never as HTML.
import { el, makeApi } from "./http.js";
import { fill, insert, matches, slashQuery, variables } from "./canned.js";
import { customerPanel } from "./customer.js";
import { agentAlerts } from "./alerts.js";
import { language, setLanguage, t } from "./i18n.js";
import { liveSocket } from "../web/shared/live_socket.js";

const $ = (id) => document.getElementById(id);
const CHANNELS = { website: "Web", telegram: "Telegram", email: "Email", x: "X", messenger: "Messenger", instagram: "Instagram", whatsapp: "WhatsApp", api: "App" };
const STATUS_MARKS = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓" };
// A reply's states in the order they happen: a retry puts a failed reply back to pending,
// and every send or failure counts one more attempt (inbox/replies.py).
const STATUS_ORDER = { failed: 0, pending: 1, sent: 2, delivered: 3, read: 4 };
const progress = (m) => (m.attempts || 0) * 10 + (STATUS_ORDER[m.status] ?? 0);
const MAX_FILE = 10 * 1024 * 1024;

const state = {
  token: sessionStorage.getItem("crocevia:token"), agent: null, view: "all", picked: new Set(),
  filters: { status: "open", channel: "", inbox_id: "", label: "" },
  conversations: new Map(), current: null, contact: null, lastId: null,
  seen: new Set(), agents: new Map(), teams: [], inboxes: [], canned: [], labels: new Map(), files: [],
  opened: new Set(), slash: null, cannedIndex: 0, typingTimer: null, typingSent: 0,
  sound: localStorage.getItem("crocevia:sound") !== "off",
};

// ---- plumbing -----------------------------------------------------------------------------

const api = makeApi(() => state.token, () => logout());

function badge(channel) {
  const b = el("span", `badge ch-${channel}`, CHANNELS[channel] || channel); b.title = channel; return b;
}

function option(value, text, selected) {
  const o = el("option", null, text); o.value = value; o.selected = selected; return o;
}

function zone() { return state.agent?.timezone || undefined; }

function time(iso, withDay = false) {
  if (!iso) return "";
  const d = new Date(iso);
  const sameDay = new Intl.DateTimeFormat("en-CA", { timeZone: zone() }).format(d)
    === new Intl.DateTimeFormat("en-CA", { timeZone: zone() }).format(new Date());
  const opts = { hour: "2-digit", minute: "2-digit", timeZone: zone() };
  if (withDay || !sameDay) Object.assign(opts, { day: "numeric", month: "short" });
  return new Intl.DateTimeFormat(language(), opts).format(d);
}

function remember(eid) {
  state.seen.add(eid);
  if (state.seen.size > 5000) state.seen = new Set([...state.seen].slice(-2500));
}

// ---- login and boot -----------------------------------------------------------------------

function logout() {
  sessionStorage.removeItem("crocevia:token");
  state.token = null;
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
  $("me").textContent = state.agent.name;
  $("presence").value = state.agent.presence === "offline" ? "online" : state.agent.presence;
  $("login").hidden = true; $("app").hidden = false;
  const [agents, teams, inboxes, canned, labels] = await Promise.all(
    ["/api/agents", "/api/teams", "/api/inboxes", "/api/canned_responses", "/api/labels"].map((p) => api(p)));
  state.agents = new Map(agents.map((a) => [a.id, a]));
  state.teams = teams; state.inboxes = inboxes; state.canned = canned;
  state.labels = new Map(labels.map((l) => [l.name, l]));
  fillFilters();
  fillKnownLabels();
  await loadList();
  socket.open();
  openFromLink();
  loadMentions();
  if (state.agent.presence === "offline") setPresence("online");
  if (window.Notification && Notification.permission === "default") Notification.requestPermission().catch(() => {});
}

// `/console/#conversation=57` (the team lead's SLA breaches link here) opens that conversation.
function openFromLink() {
  const m = /^#conversation=(\d+)$/.exec(location.hash);
  if (m) openConversation(+m[1]).catch(() => {});
}
window.addEventListener("hashchange", () => { if (!$("app").hidden) openFromLink(); });

function fillFilters() {
  const channels = [...new Set(state.inboxes.map((i) => i.channel))];
  $("f-channel").replaceChildren(option("", t("any_channel"), true),
    ...channels.map((c) => option(c, CHANNELS[c] || c, false)));
  $("f-inbox").replaceChildren(option("", t("any_inbox"), true),
    ...state.inboxes.map((i) => option(String(i.id), i.name, false)));
}

async function setPresence(presence) {
  state.agent = await api("/api/me", { method: "PATCH", body: JSON.stringify({ presence }) });
  $("presence").value = presence;
}

// ---- the list -----------------------------------------------------------------------------

async function loadList() {
  const q = new URLSearchParams({ view: state.view, status: state.filters.status });
  for (const k of ["channel", "inbox_id", "label"]) if (state.filters[k]) q.set(k, state.filters[k]);
  const r = await api(`/api/conversations?${q}`);
  state.conversations = new Map(r.conversations.map((c) => [c.id, c]));
  if (!state.lastId) state.lastId = r.last_event_id;
  renderList();
}

function matchesFilters(c, view = state.view) {
  const f = state.filters;
  if (f.status !== "any" && c.status !== f.status) return false;
  if (f.channel && c.channel !== f.channel) return false;
  if (f.inbox_id && String(c.inbox_id) !== f.inbox_id) return false;
  if (f.label && !(c.labels || []).includes(f.label.toLowerCase())) return false;
  if (view === "mine") return c.assignee_id === state.agent.id;
  if (view === "unassigned") return c.assignee_id == null;
  return true;
}

function sortedItems() {
  return [...state.conversations.values()].filter((c) => matchesFilters(c))
    .sort((a, b) => (b.last_message_at || b.created_at || "").localeCompare(a.last_message_at || a.created_at || ""));
}


// Search: messages (full text) and customers; the results take the list's place.
let searchTimer = null;
async function runSearch() {
  const q = $("search").value.trim();
  state.searching = Boolean(q);
  if (!q) { renderList(); return; }
  let r;
  try { r = await api(`/api/search?${new URLSearchParams({ q })}`); } catch (err) { flash(err.message); return; }
  if ($("search").value.trim() !== q) return; // typed on meanwhile
  $("list").replaceChildren(...(r.results.length ? r.results.map(({ conversation: c, snippet }) => {
    const li = el("li", "result"); li.dataset.id = c.id; li.tabIndex = 0;
    const name = el("span", "name"); name.append(badge(c.channel), ` ${c.contact?.name || c.contact?.email || `#${c.id}`}`);
    li.append(name, el("span", "when", time(c.last_message_at)), el("span", "preview", snippet));
    const open = () => { state.conversations.set(c.id, { ...c, ...(state.conversations.get(c.id) || {}) }); openConversation(c.id); };
    li.addEventListener("click", open);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
    return li;
  }) : [el("li", "empty", t("no_results"))]));
}
$("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
$("search").addEventListener("keydown", (e) => { if (e.key === "Escape") { $("search").value = ""; runSearch(); } });

// Bulk actions on the conversations ticked in the list.
function togglePick(id, on) {
  if (on) state.picked.add(id); else state.picked.delete(id);
  $("bulk").hidden = !state.picked.size;
  $("bulk-count").textContent = t("selected_n", state.picked.size);
}
async function bulk(change) {
  const ids = [...state.picked];
  try {
    const r = await api("/api/conversations/bulk", { method: "POST", body: JSON.stringify({ ids, ...change }) });
    if (r.refused.length) flash(t("bulk_refused", r.refused.length));
  } catch (err) { flash(err.message); return; }
  for (const id of ids) state.picked.delete(id); // not what was ticked meanwhile
  togglePick(0, false); renderList();
  await loadList();
}
$("bulk-mine").addEventListener("click", () => bulk({ assignee_id: state.agent.id }));
$("bulk-resolve").addEventListener("click", () => bulk({ status: "resolved" }));
$("bulk-label").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.value.trim()) { e.preventDefault(); const label = e.target.value.trim(); e.target.value = ""; bulk({ add_label: label }); }
});
$("bulk-clear").addEventListener("click", () => { state.picked.clear(); togglePick(0, false); renderList(); });

// What the list shows of a message: its text, or what it carries ("📷 immagine").
function previewOf(m) {
  const files = m.attachments || [];
  const text = m.text || (files.length ? files.map((a) => (/^image\//.test(a.content_type || "") ? `📷 ${t("image")}` : `📎 ${a.name || t("file")}`)).join(" ") : "");
  return m.direction === "note" ? `${t("private_note")}: ${text}` : text;
}

function renderList() {
  if (state.searching) return; // search results hold the list until the box is cleared
  const ul = $("list");
  const items = sortedItems();
  ul.replaceChildren(...items.map((c) => {
    const li = el("li"); li.dataset.id = c.id; li.tabIndex = 0;
    if (state.current === c.id) li.setAttribute("aria-current", "true");
    const name = el("span", "name");
    const pick = el("input", "pick"); pick.type = "checkbox"; pick.checked = state.picked.has(c.id);
    pick.setAttribute("aria-label", `${t("select")} ${c.contact?.name || `#${c.id}`}`);
    pick.addEventListener("click", (e) => { e.stopPropagation(); togglePick(c.id, pick.checked); });
    name.append(pick, badge(c.channel), ` ${c.contact?.name || c.contact?.email || `#${c.id}`}`);
    const when = el("span", "when", time(c.last_message_at));
    li.append(name, when);
    const preview = c.last_message ? previewOf(c.last_message) : (c.subject || "");
    li.append(el("span", "preview", preview));
    const tags = el("span", "tags");
    if (c.priority === "urgent" || c.priority === "high") tags.append(el("span", `prio ${c.priority}`, t(c.priority)));
    for (const l of c.labels || []) tags.append(labelChip(l));
    if (c.unread_count) { const u = el("span", "unread", String(c.unread_count)); u.setAttribute("aria-label", `${c.unread_count}`); tags.append(u); }
    li.append(tags);
    li.addEventListener("click", () => openConversation(c.id));
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") openConversation(c.id); });
    return li;
  }));
  if (!items.length) ul.append(el("li", "empty", t("empty")));
  for (const v of ["mine", "unassigned", "all"]) {
    const n = [...state.conversations.values()].filter((c) => matchesFilters(c, v) && c.unread_count).length;
    document.querySelector(`[data-count="${v}"]`).textContent = n ? String(n) : "";
  }
  document.title = `${items.some((c) => c.unread_count) ? "● " : ""}Crocevia — console`;
}

// ---- a conversation -----------------------------------------------------------------------

async function openConversation(id) {
  state.current = id;
  const r = await api(`/api/conversations/${id}/messages`);
  if (state.current !== id) return;
  const c = { ...(state.conversations.get(id) || {}), ...r.conversation, unread_count: 0 };
  state.conversations.set(id, c);
  $("messages").textContent = "";
  r.messages.forEach(renderMessage);
  renderHeader(c);
  renderList();
  $("reply").hidden = false; $("actions").hidden = false; $("labels").hidden = false; $("customer").hidden = false;
  $("app").classList.add("in-chat"); $("customer-btn").hidden = false;
  api(`/api/conversations/${id}/read`, { method: "POST" }).then(() => { if (state.mentions?.some((x) => x.conversation_id === id)) loadMentions(); }).catch(() => {});
  loadCustomer(c.contact.id);
  $("text").focus();
}

function renderHeader(c) {
  $("chat-title").textContent = c.contact?.name || c.contact?.email || `#${c.id}`;
  $("chat-title").removeAttribute("data-t");
  $("chat-channel").replaceChildren(badge(c.channel));
  if (c.public) { const pub = el("span", "badge public", t("public")); pub.title = t("public_hint"); $("chat-channel").append(" ", pub); }
  $("reply").classList.toggle("public", Boolean(c.public));
  setMode();
  // Whom it can go to: people who take conversations (not marketing), of the
  // conversation's team when it has one, and online or busy; the current assignee stays.
  const canTake = (a) => a.id === c.assignee_id || (a.role !== "marketing" && a.presence !== "offline"
    && (c.team_id == null || a.role === "admin" || (a.team_ids || []).includes(c.team_id)));
  const agents = [...state.agents.values()].filter(canTake);
  $("assignee").replaceChildren(option("", t("nobody"), c.assignee_id == null),
    ...agents.map((a) => option(String(a.id), `${a.name} · ${t(a.presence)}`, a.id === c.assignee_id)));
  $("team").replaceChildren(option("", t("no_team"), c.team_id == null),
    ...state.teams.map((tm) => option(String(tm.id), tm.name, tm.id === c.team_id)));
  $("priority").value = c.priority;
  $("snooze").value = "";
  $("resolve").hidden = c.status === "resolved";
  $("reopen").hidden = c.status !== "resolved" && c.status !== "snoozed";
  $("snooze").title = c.status === "snoozed" && c.snoozed_until ? t("snoozed_until", time(c.snoozed_until, true)) : "";
  const chips = (c.labels || []).map((l) => {
    const chip = labelChip(l);
    const x = el("button", "x", "×"); x.type = "button"; x.setAttribute("aria-label", `${t("remove_label")} ${l}`);
    x.addEventListener("click", () => patch({ labels: (c.labels || []).filter((v) => v !== l) }));
    chip.append(x);
    return chip;
  });
  $("label-chips").replaceChildren(...chips);
  fillKnownLabels();
}

// What the label inputs offer: the catalogue, and labels seen on conversations.
function fillKnownLabels() {
  const known = new Set([...state.labels.keys(), ...[...state.conversations.values()].flatMap((x) => x.labels || [])]);
  $("known-labels").replaceChildren(...[...known].sort().map((l) => {
    const o = option(l, l, false);
    if (state.labels.get(l)?.description) o.label = `${l} — ${state.labels.get(l).description}`;
    return o;
  }));
}

// A label as a chip, in its catalogue colour (a label not in the catalogue stays plain).
function labelChip(name) {
  const chip = el("span", "chip", name);
  const known = state.labels.get(name);
  if (known) { chip.style.setProperty("--chip", known.colour); chip.classList.add("coloured"); if (known.description) chip.title = known.description; }
  return chip;
}

async function patch(changes) {
  if (!state.current) return;
  try {
    const c = await api(`/api/conversations/${state.current}`, { method: "PATCH", body: JSON.stringify(changes) });
    mergeConversation(c);
  } catch (err) { flash(err.message); }
}

function flash(text) {
  const p = $("typing"); p.textContent = text; p.classList.add("alert");
  setTimeout(() => { p.textContent = ""; p.classList.remove("alert"); }, 5000);
}

function mergeConversation(c) {
  const old = state.conversations.get(c.id) || {};
  const merged = { ...old, ...c, unread_count: old.unread_count || 0, last_message: c.last_message || old.last_message };
  state.conversations.set(c.id, merged);
  if (c.id === state.current) renderHeader(merged);
  return merged;
}

function renderMessage(m) {
  if (m.conversation_id !== state.current) return;
  const ol = $("messages");
  let li = (m.id && ol.querySelector(`[data-id="${m.id}"]`)) || (m.client_id && ol.querySelector(`[data-cid="${CSS.escape(m.client_id)}"]`));
  if (!li) { li = el("li"); ol.append(li); }
  // The ack of a reply, or a page of history, can arrive after the event that the reply was
  // sent: an older copy of a message never replaces a newer one.
  if (m.id && li.dataset.progress && progress(m) < +li.dataset.progress) return;
  if (m.id) li.dataset.progress = progress(m);
  li.className = m.direction; li.dataset.id = m.id ?? ""; if (m.client_id) li.dataset.cid = m.client_id;
  if (m.id) { // the conversation's order, whatever order the events arrive in; unsent ones last
    const before = [...ol.children].find((n) => n !== li && (!+n.dataset.id || +n.dataset.id > m.id));
    if (!before) { if (ol.lastElementChild !== li) ol.append(li); } else if (li.nextElementSibling !== before) ol.insertBefore(li, before);
  }
  li.textContent = "";
  if (m.direction === "note") li.append(el("div", "note-tag", t("private_note")));
  if (m.text) li.append(el("div", "text", m.text));
  const quoted = (m.attachments || []).find((a) => a.data?.role === "original" && a.data.quoted)?.data.quoted;
  if (quoted) { // an email's quoted history and signature, folded (connectors/email_quotes.py)
    const fold = el("details", "quoted"); fold.append(el("summary", null, t("quoted_text")), el("div", "quoted-text", quoted));
    li.append(fold);
  }
  for (const a of m.attachments || []) li.append(attachment(a));
  const meta = el("div", "meta", `${m.author?.name || ""} ${time(m.created_at)}${m.edited_at ? ` · ${t("edited")}` : ""}`);
  if (m.sentiment && m.direction === "in") meta.append(el("span", `mood ${m.sentiment.label}`, ` · ${t(m.sentiment.label)}`));
  if (m.direction === "out") {
    const st = el("span", m.status === "failed" ? "status failed" : "status", ` ${m.status === "failed" ? t("not_sent") : STATUS_MARKS[m.status] || m.status}`);
    st.title = m.error || m.status; meta.append(st);
    if (m.status === "failed") {
      const b = el("button", "retry", t("retry")); b.type = "button";
      b.addEventListener("click", () => send({ type: "retry", message_id: m.id }));
      meta.append(b);
    }
  }
  li.append(meta);
  ol.scrollTop = ol.scrollHeight;
}

function attachment(a) {
  if (a.kind === "location" && a.data) {
    const link = el("a", "file", `⌖ ${a.data.latitude}, ${a.data.longitude}`);
    link.href = `https://www.openstreetmap.org/?mlat=${encodeURIComponent(a.data.latitude)}&mlon=${encodeURIComponent(a.data.longitude)}`;
    link.target = "_blank"; link.rel = "noopener noreferrer"; return link;
  }
  if (!a.url) return el("div", "file", `⎘ ${a.name || a.kind}`);
  const link = el("a", "file"); link.href = a.url; link.target = "_blank"; link.rel = "noopener noreferrer";
  if (a.kind === "image" || (a.content_type || "").startsWith("image/")) {
    const img = el("img"); img.src = a.url; img.alt = a.name || ""; img.loading = "lazy"; link.append(img);
  } else link.textContent = `⎘ ${a.name || a.kind}`;
  return link;
}

// The customer panel (customer.js).
const loadCustomer = customerPanel({
  api, state, time, badge, option, flash, channels: CHANNELS, openConversation,
});

// ---- live events --------------------------------------------------------------------------

const socket = liveSocket({
  url: location.origin.replace(/^http/, "ws") + "/ws/agent",
  auth: () => ({ type: "auth", token: state.token, last_event_id: state.lastId }),
  onFrame: (f) => {
    if (f.type === "ready") onReady();
    else if (f.type === "event") { state.lastId = f.id; applyEvent(f); }
    else if (f.type === "ack") { if (f.client_id) unsent.delete(f.client_id); renderMessage(f.message); }
    else if (f.type === "typing") showTyping(f);
    else if (f.type === "resync") resync();
    else if (f.type === "error") refused(f);
  },
  onClose: (code) => { setConnected(false); if (code === 4401) logout(); },
});
const send = (frame) => socket.send(frame);

// A frame the server refused: a reply it will never take (for example outside Meta's 24-hour
// window) is shown as not sent, with the reason, and not sent again after a reconnect.
function refused(f) {
  console.error(`Crocevia: ${f.code}: ${f.message}`);
  if (!f.client_id) return;
  flash(f.message);
  if (f.code === "unavailable" || f.code === "rate_limited") return; // sent again on reconnect
  unsent.delete(f.client_id);
  const li = $("messages").querySelector(`[data-cid="${CSS.escape(f.client_id)}"]`);
  if (li) { li.classList.add("refused"); li.title = f.message; li.querySelector(".meta")?.append(el("span", "status failed", ` ${t("not_sent")}`)); }
}

function onReady() {
  setConnected(true);
  flushUnsent();
}

function setConnected(on) {
  $("conn").classList.toggle("on", on);
  $("conn").title = on ? t("connected") : t("disconnected");
  $("app").classList.toggle("offline", !on);
}

async function resync() { // the stream no longer holds our last id: reload what we show
  state.lastId = null;
  await loadList();
  if (state.current) await openConversation(state.current);
}

function applyEvent(f) {
  if (state.seen.has(f.eid)) return;
  remember(f.eid);
  if (f.event === "agent.updated") {
    const a = f.data.agent; state.agents.set(a.id, a);
    if (a.id === state.agent.id) $("presence").value = a.presence;
    const c = state.conversations.get(state.current); if (c) renderHeader(c);
    return;
  }
  const { conversation: c, message: m } = f.data;
  const cm = f.data.contact_merge; // a merge (or its undo) moved this conversation: refresh the customer
  if (cm && [cm.kept_contact_id, cm.merged_contact_id].includes(state.contact)) {
    clearTimeout(state.customerTimer); state.customerTimer = setTimeout(() => loadCustomer(state.contact), 300);
  }
  if (f.event === "conversation.created") state.opened.add(c.id);
  if (f.event === "message.created" && (f.data.mentions || []).includes(state.agent.id)) mentioned(c, m);
  if (c) {
    const merged = mergeConversation(c);
    if (m) {
      if (!(m.direction === "out" && !m.author)) merged.last_message = m; // not an automatic message
      const incoming = f.event === "message.created" && m.direction === "in";
      if (incoming && (c.id !== state.current || document.hidden)) merged.unread_count++;
      if (incoming) alertAgent(merged, m, state.opened.delete(c.id));
      if (incoming && c.id === state.current && !document.hidden) api(`/api/conversations/${c.id}/read`, { method: "POST" }).catch(() => {});
    }
  }
  if (m) renderMessage(m);
  renderList();
}

// Mentions, sounds and notifications (alerts.js).
const { loadMentions, mentioned, alertAgent } = agentAlerts({ api, state, flash, openConversation });

function showTyping(f) {
  if (f.conversation_id !== state.current || f.from !== "visitor") return;
  const c = state.conversations.get(f.conversation_id);
  $("typing").textContent = f.on ? t("typing", c?.contact?.name || "…") : "";
  clearTimeout(state.typingTimer);
  if (f.on) state.typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 6000);
}

// ---- replying -----------------------------------------------------------------------------

const unsent = new Map(); // client_id -> frame, kept until the server acknowledges it

function flushUnsent() { // after a reconnect; the client_id makes a resend land once
  for (const frame of unsent.values()) send(frame);
}

$("reply").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if ((!text && !state.files.length) || !state.current) return;
  const note = $("private").checked;
  const frame = { type: "reply", client_id: crypto.randomUUID(), conversation_id: state.current, text, private: note,
    attachments: state.files.map((f) => f.id) };
  renderMessage({ id: null, client_id: frame.client_id, conversation_id: state.current, direction: note ? "note" : "out",
    text, status: "pending", author: { name: state.agent.name }, attachments: state.files });
  unsent.set(frame.client_id, frame);
  send(frame); // if the socket is down, flushUnsent sends it once we are back (the client_id makes it once)
  if (state.typingSent) { state.typingSent = 0; send({ type: "typing", conversation_id: state.current, on: false }); }
  $("text").value = ""; state.files = []; renderFiles(); closeCanned();
});

$("text").addEventListener("keydown", (e) => {
  if (!$("canned").hidden) {
    const items = $("canned").querySelectorAll("li[data-code]");
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      state.cannedIndex = (state.cannedIndex + (e.key === "ArrowDown" ? 1 : -1) + items.length) % Math.max(items.length, 1);
      highlightCanned(); return;
    }
    if ((e.key === "Enter" || e.key === "Tab") && items.length) { e.preventDefault(); chooseCanned(items[state.cannedIndex].dataset.code); return; }
    if (e.key === "Escape") { e.preventDefault(); closeCanned(); return; }
  }
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("reply").requestSubmit(); }
});

$("text").addEventListener("input", () => {
  const slash = slashQuery($("text"));
  if (slash) openCanned(slash); else closeCanned();
  if (state.current && !$("private").checked && Date.now() - state.typingSent > 3000) {
    state.typingSent = Date.now(); send({ type: "typing", conversation_id: state.current, on: true });
  }
});

function openCanned(slash) {
  state.slash = slash;
  const found = matches(state.canned, slash.query);
  const ul = $("canned");
  ul.replaceChildren(...found.map((c) => {
    const li = el("li"); li.dataset.code = c.short_code; li.setAttribute("role", "option");
    li.append(el("strong", null, `/${c.short_code}`), el("span", null, fill(c.text, variables(state.conversations.get(state.current), state.agent))));
    li.addEventListener("mousedown", (e) => { e.preventDefault(); chooseCanned(c.short_code); });
    return li;
  }));
  if (!found.length) ul.append(el("li", "muted", t("no_canned")));
  state.cannedIndex = 0; highlightCanned(); ul.hidden = false;
}

function highlightCanned() {
  $("canned").querySelectorAll("li[data-code]").forEach((li, i) => li.setAttribute("aria-selected", String(i === state.cannedIndex)));
}

function chooseCanned(code) {
  const c = state.canned.find((x) => x.short_code === code);
  if (!c || !state.slash) return;
  insert($("text"), state.slash, fill(c.text, variables(state.conversations.get(state.current), state.agent)));
  closeCanned();
}

function closeCanned() { $("canned").hidden = true; state.slash = null; }

for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", setMode);
function setMode() {
  const note = $("private").checked;
  $("reply").classList.toggle("noting", note);
  const c = state.conversations.get(state.current);
  $("text").placeholder = note ? t("note_ph") : c?.public ? t("public_ph") : t("reply_ph");
}

$("file").addEventListener("change", async () => {
  const file = $("file").files[0]; $("file").value = "";
  if (!file) return;
  if (file.size > MAX_FILE) { flash(t("file_too_big")); return; }
  const form = new FormData(); form.append("file", file);
  try { state.files.push(await api("/api/attachments", { method: "POST", body: form })); renderFiles(); } catch (err) { flash(err.message); }
});

function renderFiles() {
  $("pending-files").replaceChildren(...state.files.map((f, i) => {
    const chip = el("span", "chip", f.name); const x = el("button", "x", "×"); x.type = "button";
    x.addEventListener("click", () => { state.files.splice(i, 1); renderFiles(); });
    chip.append(x); return chip;
  }));
}

// ---- actions, filters, settings, shortcuts ------------------------------------------------

$("resolve").addEventListener("click", () => patch({ status: "resolved" }));
$("reopen").addEventListener("click", () => patch({ status: "open" }));
$("priority").addEventListener("change", () => patch({ priority: $("priority").value }));
$("assignee").addEventListener("change", () => patch({ assignee_id: $("assignee").value ? +$("assignee").value : null }));
$("team").addEventListener("change", () => patch({ team_id: $("team").value ? +$("team").value : null }));
$("snooze").addEventListener("change", () => {
  const choice = $("snooze").value;
  if (!choice) return;
  patch({ status: "snoozed", snoozed_until: wakeTime(choice) });
});
$("label-add").addEventListener("keydown", (e) => {
  if (e.key !== "Enter") return;
  e.preventDefault();
  const label = $("label-add").value.trim().toLowerCase().replace(/\s+/g, "-");
  const c = state.conversations.get(state.current);
  if (label && c) patch({ labels: [...new Set([...(c.labels || []), label])] });
  $("label-add").value = "";
});
$("presence").addEventListener("change", () => setPresence($("presence").value));

// When to wake a snoozed conversation, as an ISO time: 9:00 is 9:00 in the agent's zone.
function wakeTime(choice) {
  if (choice === "reply") return null;
  const now = new Date();
  if (choice === "1h") return new Date(now.getTime() + 3600e3).toISOString();
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: zone(), year: "numeric", month: "2-digit",
    day: "2-digit", weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(now).map((p) => [p.type, p.value]));
  const weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(parts.weekday);
  const days = choice === "tomorrow" ? 1 : ((8 - weekday) % 7 || 7);
  // 09:00 local on that day: start from the local wall time now and step back to 09:00.
  const minutesSinceNine = (+parts.hour - 9) * 60 + +parts.minute;
  return new Date(now.getTime() + days * 86400e3 - minutesSinceNine * 60e3 - now.getSeconds() * 1e3).toISOString();
}

for (const id of ["f-status", "f-channel", "f-inbox"]) {
  $(id).addEventListener("change", () => { state.filters[{ "f-status": "status", "f-channel": "channel", "f-inbox": "inbox_id" }[id]] = $(id).value; loadList(); });
}
$("f-label").addEventListener("change", () => { state.filters.label = $("f-label").value.trim().toLowerCase(); loadList(); });

document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", async () => {
  document.querySelectorAll(".tabs button").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
  state.view = b.dataset.view; await loadList();
}));

$("settings-btn").addEventListener("click", () => {
  $("s-language").value = state.agent.language; $("s-timezone").value = state.agent.timezone; $("s-sound").checked = state.sound;
  $("settings").showModal();
});
$("settings").addEventListener("close", async () => {
  if ($("settings").returnValue !== "save") return;
  state.sound = $("s-sound").checked; localStorage.setItem("crocevia:sound", state.sound ? "on" : "off");
  try {
    state.agent = await api("/api/me", { method: "PATCH", body: JSON.stringify({ language: $("s-language").value, timezone: $("s-timezone").value }) });
  } catch (err) { flash(err.message); return; }
  setLanguage(state.agent.language); fillFilters(); setMode(); renderList();
  if (state.current) openConversation(state.current);
});

function showCustomer(open) {
  $("app").classList.toggle("show-customer", open);
  $("customer-btn").setAttribute("aria-expanded", String(open));
  if (open) $("customer-close").focus();
}
$("customer-btn").addEventListener("click", () => showCustomer(!$("app").classList.contains("show-customer")));
$("customer-close").addEventListener("click", () => { showCustomer(false); $("customer-btn").focus(); });
$("back").addEventListener("click", () => { $("app").classList.remove("in-chat", "show-customer"); });

document.addEventListener("keydown", (e) => {
  if ($("app").hidden) return;
  if (e.key === "Escape" && $("app").classList.contains("show-customer")) { showCustomer(false); return; }
  // Alt shortcuts read the physical key (e.code): on macOS Option+J types "∆", not "j".
  if (e.altKey && (e.code === "KeyJ" || e.code === "KeyK")) {
    e.preventDefault();
    const items = sortedItems(); if (!items.length) return;
    const at = items.findIndex((c) => c.id === state.current);
    const next = items[Math.min(Math.max(at + (e.code === "KeyJ" ? 1 : -1), 0), items.length - 1)];
    if (next) openConversation(next.id);
  } else if (e.altKey && e.code === "KeyR" && state.current) { e.preventDefault(); patch({ status: "resolved" }); }
  else if (e.altKey && e.code === "KeyN" && state.current) {
    e.preventDefault(); $("private").checked = !$("private").checked;
    if (!$("private").checked) document.querySelector("input[name=mode][value=reply]").checked = true;
    setMode(); $("text").focus();
  } else if (e.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName) && state.current) {
    e.preventDefault(); $("text").focus(); $("text").value += "/"; openCanned(slashQuery($("text")));
  }
});

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.current) {
    const c = state.conversations.get(state.current);
    if (c?.unread_count) { c.unread_count = 0; renderList(); api(`/api/conversations/${c.id}/read`, { method: "POST" }).catch(() => {}); }
  }
});

setLanguage(navigator.language?.startsWith("en") ? "en" : "it");
if (state.token) boot().catch(() => logout());

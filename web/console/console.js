// Crocevia agent console: REST for state, /ws/agent for live events (docs/api.md).
const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("crocevia:token"), agent: null, view: "all",
  conversations: new Map(), current: null, lastId: null, ws: null, retry: 0, seen: new Set() };

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { "Content-Type": "application/json",
    ...(state.token ? { Authorization: `Bearer ${state.token}` } : {}) } });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) { logout(); throw new Error("unauthorized"); }
  if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
  return body;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text; // always text, never HTML
  return e;
}

function time(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(state.agent?.language || "it",
    { hour: "2-digit", minute: "2-digit", timeZone: state.agent?.timezone || undefined }).format(new Date(iso));
}

function logout() {
  sessionStorage.removeItem("crocevia:token");
  state.token = null;
  if (state.ws) state.ws.close();
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

async function loadList() {
  const r = await api(`/api/conversations?view=${state.view}&status=open`);
  state.conversations = new Map(r.conversations.map((c) => [c.id, c]));
  if (!state.lastId) state.lastId = r.last_event_id;
  renderList();
}

function renderList() {
  const ul = $("list"); ul.textContent = "";
  const items = [...state.conversations.values()].filter(visibleInView)
    .sort((a, b) => (b.last_message_at || "").localeCompare(a.last_message_at || ""));
  for (const c of items) {
    const li = el("li"); li.dataset.id = c.id;
    if (state.current === c.id) li.setAttribute("aria-current", "true");
    li.append(el("span", "name", c.contact?.name || c.contact?.email || `#${c.id}`));
    if (c.unread_count) li.append(el("span", "unread", String(c.unread_count))); else li.append(el("span"));
    li.append(el("span", "preview", c.last_message ? c.last_message.text : ""));
    li.addEventListener("click", () => openConversation(c.id));
    ul.append(li);
  }
}

function visibleInView(c) {
  if (c.status !== "open") return false;
  if (state.view === "mine") return c.assignee_id === state.agent.id;
  if (state.view === "unassigned") return c.assignee_id == null;
  return true;
}

async function openConversation(id) {
  state.current = id;
  const r = await api(`/api/conversations/${id}/messages`);
  const c = state.conversations.get(id) || r.conversation;
  c.unread_count = 0; state.conversations.set(id, c);
  $("chat-title").textContent = r.conversation.contact.name || r.conversation.contact.email || `#${id}`;
  $("resolve").hidden = false; $("reply").hidden = false;
  $("messages").textContent = "";
  r.messages.forEach(renderMessage);
  renderList();
  api(`/api/conversations/${id}/read`, { method: "POST" }).catch(() => {});
  $("text").focus();
}

function renderMessage(m) {
  if (m.conversation_id !== state.current) return;
  const ol = $("messages");
  let li = ol.querySelector(`[data-id="${m.id}"]`) || (m.client_id && ol.querySelector(`[data-cid="${CSS.escape(m.client_id)}"]`));
  if (!li) { li = el("li"); ol.append(li); }
  li.className = m.direction; li.dataset.id = m.id ?? ""; if (m.client_id) li.dataset.cid = m.client_id;
  if (m.id) { // the conversation's order, whatever order the events arrive in; unsent ones last
    const before = [...ol.children].find((n) => n !== li && (!+n.dataset.id || +n.dataset.id > m.id));
    if (!before) { if (ol.lastElementChild !== li) ol.append(li); } else if (li.nextElementSibling !== before) ol.insertBefore(li, before);
  }
  li.textContent = "";
  li.append(el("div", null, m.text));
  const meta = el("div", "meta", `${m.author?.name || ""} ${time(m.created_at)}`);
  if (m.direction === "out") {
    const s = { pending: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "non inviato" }[m.status] || m.status;
    const st = el("span", m.status === "failed" ? "failed" : "", ` ${s}`); st.title = m.error || m.status; meta.append(st);
    if (m.status === "failed") {
      const b = el("button", "retry", "Riprova");
      b.addEventListener("click", () => state.ws?.send(JSON.stringify({ type: "retry", message_id: m.id })));
      meta.append(b);
    }
  }
  if (m.direction === "note") meta.append(" · Nota privata");
  li.append(meta);
  ol.scrollTop = ol.scrollHeight;
}

function applyEvent(f) {
  if (state.seen.has(f.eid)) return;
  state.seen.add(f.eid);
  const { conversation: c, message: m } = f.data;
  if (c) {
    const old = state.conversations.get(c.id) || {};
    const merged = { ...old, ...c, unread_count: old.unread_count || 0 };
    if (m) {
      merged.last_message = m;
      if (f.event === "message.created" && m.direction === "in" && c.id !== state.current) merged.unread_count++;
    }
    if (f.event === "conversation.created" && Notification?.permission === "granted") new Notification("Nuova conversazione", { body: c.contact?.name || "" });
    state.conversations.set(c.id, merged);
  }
  if (m) renderMessage(m);
  renderList();
}

function connect() {
  const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/agent");
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: state.token, last_event_id: state.lastId }));
  ws.onmessage = (ev) => {
    const f = JSON.parse(ev.data);
    if (f.type === "ready") { state.retry = 0; $("conn").classList.add("on"); }
    else if (f.type === "event") { state.lastId = f.id; applyEvent(f); }
    else if (f.type === "ack") renderMessage(f.message);
    else if (f.type === "resync") { loadList(); if (state.current) openConversation(state.current); }
    else if (f.type === "error") console.error(`Crocevia: ${f.code}: ${f.message}`);
  };
  ws.onclose = (e) => {
    $("conn").classList.remove("on");
    if (e.code === 4401) return logout();
    const delay = Math.min(30000, 500 * 2 ** state.retry++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay); // resumes from state.lastId: nothing missed, nothing twice
  };
}

$("reply").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || !state.current) return;
  const frame = { type: "reply", client_id: crypto.randomUUID(), conversation_id: state.current, text, private: $("private").checked };
  renderMessage({ id: null, client_id: frame.client_id, conversation_id: state.current, direction: frame.private ? "note" : "out", text, status: "pending", author: { name: state.agent.name } });
  state.ws.send(JSON.stringify(frame));
  $("text").value = "";
});
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("reply").requestSubmit(); } });
$("resolve").addEventListener("click", async () => {
  if (!state.current) return;
  await api(`/api/conversations/${state.current}`, { method: "PATCH", body: JSON.stringify({ status: "resolved" }) });
});
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", async () => {
  document.querySelectorAll(".tabs button").forEach((x) => x.setAttribute("aria-selected", String(x === b)));
  state.view = b.dataset.view; await loadList();
}));

async function boot() {
  state.agent = await api("/api/me");
  $("me").textContent = state.agent.name;
  $("login").hidden = true; $("app").hidden = false;
  await loadList();
  connect();
  if (window.Notification && Notification.permission === "default") Notification.requestPermission().catch(() => {});
}

if (state.token) boot().catch(() => logout());

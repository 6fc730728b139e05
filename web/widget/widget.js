/* Crocevia chat widget: <script src="https://HOST/widget.js" data-website-token="..." async></script>
 * Lives in a Shadow DOM, defines no global but window.Crocevia, speaks docs/api.md. */
(function () {
  "use strict";
  if (window.Crocevia) return;
  var script = document.currentScript;
  var TOKEN = script && script.getAttribute("data-website-token");
  if (!TOKEN) { console.error("Crocevia: data-website-token is missing"); return; }
  var BASE = new URL(script.src, location.href).origin;
  var WS = BASE.replace(/^http/, "ws") + "/ws/widget";
  var KEY = "crocevia:" + TOKEN;
  var T = {
    it: { title: "Scrivici", placeholder: "Scrivi un messaggio…", send: "Invia", open: "Apri la chat",
      close: "Chiudi la chat", sending: "invio…", sent: "inviato", read: "letto", offline: "Siamo offline: lascia la tua email e ti rispondiamo appena possibile.",
      email: "La tua email", name: "Il tuo nome", start: "Inizia", typing: "sta scrivendo…", reconnecting: "Riconnessione…",
      attach: "Allega un'immagine o un PDF", tooBig: "Il file supera i 10 MB", rated: "Grazie per la valutazione!", stars: " su 5",
      online: "Online: rispondiamo in chat", intro: "Prima di iniziare, ci dici chi sei?", closedNow: "Siamo offline", reopens: "riapriamo %s", optional: " (facoltativo)",
      consent: "Scrivendoci accetti il trattamento dei dati descritto nell'", privacy: "informativa privacy" },
    en: { title: "Chat with us", placeholder: "Write a message…", send: "Send", open: "Open chat",
      close: "Close chat", sending: "sending…", sent: "sent", read: "read", offline: "We're offline: leave your email and we'll answer as soon as we can.",
      email: "Your email", name: "Your name", start: "Start", typing: "is typing…", reconnecting: "Reconnecting…",
      attach: "Attach an image or a PDF", tooBig: "The file is over 10 MB", rated: "Thanks for your rating!", stars: " out of 5",
      online: "Online: we answer in the chat", intro: "Before we start, tell us who you are.", closedNow: "We're offline", reopens: "back %s", optional: " (optional)",
      consent: "By writing to us you accept how we handle your data, as our ", privacy: "privacy policy" }
  };
  var lang = (script.getAttribute("data-locale") || navigator.language || "en").slice(0, 2);
  var t = T[lang] || T.en;
  var state = load();
  var lastId = state.lastId || null, seen = {}, pending = {}, unread = 0, isOpen = false, inbox = {};
  var listeners = {};

  function load() { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; } }
  function save() { state.lastId = lastId; try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (e) { /* private mode */ } }
  function uuid() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2)); }
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function emit(name, data) { (listeners[name] || []).forEach(function (fn) { try { fn(data); } catch (e) { console.error(e); } }); }

  var host = el("div"); host.id = "crocevia-widget";
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = [
    ":host{all:initial;--c:#0b6e4f}*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}[hidden]{display:none!important}",
    ".launcher{position:fixed;right:20px;bottom:20px;width:58px;height:58px;border-radius:50%;border:0;background:var(--c);color:#fff;cursor:pointer;box-shadow:0 6px 20px rgba(0,0,0,.25);display:grid;place-items:center;z-index:2147483000}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #f2a541;outline-offset:2px}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:22px;height:22px;border-radius:11px;background:#d7263d;color:#fff;font-size:12px;line-height:22px;padding:0 6px}",
    ".panel{position:fixed;right:20px;bottom:90px;width:360px;height:520px;max-height:calc(100vh - 110px);background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);display:none;flex-direction:column;overflow:hidden;z-index:2147483000}",
    ".panel.open{display:flex}.head{background:var(--c);color:#fff;padding:14px 16px;display:flex;justify-content:space-between;align-items:center}",
    ".head h2{margin:0;font-size:16px}.head p{margin:2px 0 0;font-size:12px;opacity:.85}.x{background:none;border:0;color:#fff;font-size:22px;cursor:pointer}",
    ".list{flex:1;overflow-y:auto;padding:14px;background:#f6f7f9;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:80%;padding:8px 12px;border-radius:14px;font-size:14px;line-height:1.35;white-space:pre-wrap;word-wrap:break-word}",
    ".in{align-self:flex-end;background:var(--c);color:#fff;border-bottom-right-radius:4px}.out{align-self:flex-start;background:#fff;color:#1d1d1f;border:1px solid #e3e5e8;border-bottom-left-radius:4px}",
    ".meta{font-size:11px;opacity:.7;margin-top:3px}.who{font-size:11px;font-weight:600;margin-bottom:2px;color:var(--c)}",
    ".typing,.status{font-size:12px;color:#666;padding:0 14px 6px;min-height:18px}",
    "form.compose{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e5e8}textarea{flex:1;resize:none;border:1px solid #cfd3d8;border-radius:10px;padding:8px;font-size:14px;height:40px}",
    "button.send{background:var(--c);color:#fff;border:0;border-radius:10px;padding:0 14px;cursor:pointer;font-size:14px}",
    ".attach{display:grid;place-items:center;width:40px;border:1px solid #cfd3d8;border-radius:10px;color:#555;cursor:pointer;position:relative}.attach:focus-within{outline:2px solid var(--c)}.attach input{position:absolute;inset:0;opacity:0;cursor:pointer;width:100%}",
    ".rate{display:flex;gap:6px;margin-top:8px}.rate button{width:34px;height:34px;border-radius:50%;border:1px solid var(--c);background:#fff;color:var(--c);cursor:pointer;font-size:14px}.rate button:hover{background:var(--c);color:#fff}",
    "a.file{display:block;color:inherit;margin-top:4px}a.file img{max-width:200px;max-height:180px;border-radius:8px;display:block}",
    ".pre button{min-height:44px}.consent{font-size:12px!important;color:#555!important}.consent a{color:var(--c)}",
    ".pre{padding:16px;display:flex;flex-direction:column;gap:10px}.pre p{margin:0;font-size:14px;color:#333}.pre input{border:1px solid #cfd3d8;border-radius:8px;padding:9px;font-size:14px}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;max-height:100vh;border-radius:0}}"
  ].join("");
  root.appendChild(style);
  var launcher = el("button", "launcher"); launcher.setAttribute("aria-label", t.open);
  var NS = "http://www.w3.org/2000/svg", icon = document.createElementNS(NS, "svg"), path = document.createElementNS(NS, "path");
  icon.setAttribute("viewBox", "0 0 24 24"); icon.setAttribute("width", "28"); icon.setAttribute("height", "28"); icon.setAttribute("aria-hidden", "true");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z");
  icon.appendChild(path); launcher.appendChild(icon);
  var badge = el("span", "badge"); badge.hidden = true; launcher.appendChild(badge);
  var panel = el("section", "panel"); panel.setAttribute("role", "dialog"); panel.setAttribute("aria-label", t.title);
  var head = el("div", "head"), titles = el("div"), h2 = el("h2", null, t.title), sub = el("p");
  titles.appendChild(h2); titles.appendChild(sub);
  var x = el("button", "x", "×"); x.setAttribute("aria-label", t.close);
  head.appendChild(titles); head.appendChild(x);
  var list = el("div", "list"); list.setAttribute("aria-live", "polite"); list.setAttribute("role", "log");
  var typing = el("div", "typing"), status = el("div", "status");
  var pre = el("form", "pre");
  var compose = el("form", "compose"), box = el("textarea"), send = el("button", "send", t.send);
  box.placeholder = t.placeholder; box.setAttribute("aria-label", t.placeholder); send.type = "submit";
  var attach = el("label", "attach"), file = el("input"); attach.title = t.attach;
  attach.innerHTML = '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true"><path d="M21 11.5l-8.5 8.5a5 5 0 0 1-7-7L14 4.5a3.5 3.5 0 0 1 5 5L10.5 18a2 2 0 0 1-3-3L15 7.5"/></svg>';
  file.type = "file"; file.accept = "image/*,application/pdf"; file.setAttribute("aria-label", t.attach); attach.appendChild(file);
  compose.appendChild(box); compose.appendChild(attach); compose.appendChild(send);
  [head, list, typing, status, pre, compose].forEach(function (n) { panel.appendChild(n); });
  root.appendChild(launcher); root.appendChild(panel);

  function setOpen(v) {
    isOpen = v; panel.classList.toggle("open", v); launcher.setAttribute("aria-expanded", String(v));
    if (v) { unread = 0; renderBadge(); markRead(); list.scrollTop = list.scrollHeight; (pre.hidden ? box : pre.querySelector("input") || box).focus(); } else { launcher.focus(); }
  }
  function renderBadge() { badge.hidden = unread === 0; badge.textContent = String(unread); }
  // The newest message the visitor has had in front of them: after a reload, only replies
  // after it count as unread.
  function markRead() {
    var ids = Array.prototype.map.call(list.children, function (n) { return +n.getAttribute("data-id") || 0; });
    state.readUpTo = Math.max(state.readUpTo || 0, Math.max.apply(null, ids.concat([0]))); save();
  }
  launcher.addEventListener("click", function () { setOpen(!isOpen); });
  x.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });

  function time(iso) { try { return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; } }
  // Keep the conversation's order (replies may be sent, and arrive, out of order): a stored
  // message goes before the first later one or the first still being sent.
  function place(node, id) {
    var before = Array.prototype.find.call(list.children, function (n) { var i = +n.getAttribute("data-id"); return n !== node && (!i || i > id); });
    if (!before) { if (list.lastChild !== node) list.appendChild(node); } else if (node.nextSibling !== before) list.insertBefore(node, before);
  }
  function upsert(m) {
    var node = list.querySelector('[data-id="' + m.id + '"]') || (m.client_id && list.querySelector('[data-cid="' + CSS.escape(m.client_id) + '"]'));
    var fresh = !node;
    if (fresh) { node = el("div"); list.appendChild(node); }
    node.className = "msg " + (m.direction === "in" ? "in" : "out");
    node.setAttribute("data-id", m.id || ""); if (m.client_id) node.setAttribute("data-cid", m.client_id);
    node.textContent = "";
    if (m.direction !== "in" && m.author && m.author.name) node.appendChild(el("div", "who", m.author.name));
    node.appendChild(el("div", null, m.text || ""));
    (m.attachments || []).forEach(function (a) {
      var link = el("a", "file"); link.href = BASE + a.url; link.target = "_blank"; link.rel = "noopener";
      if (/^image\//.test(a.content_type || "")) { var img = el("img"); img.src = link.href; img.alt = a.name || ""; link.appendChild(img); } else link.textContent = "⎘ " + (a.name || "file");
      node.appendChild(link);
    });
    if (m.id) place(node, +m.id);
    if (m.id && /^csat:/.test(m.client_id || "")) node.appendChild(ratingButtons());
    var meta = el("div", "meta", m.id ? time(m.created_at) : t.sending);
    if (m.id && m.direction === "in") { var tick = el("span", "tick"); meta.appendChild(document.createTextNode(" · ")); meta.appendChild(tick); }
    node.appendChild(meta);
    showRead();
    list.scrollTop = list.scrollHeight;
    if (fresh && m.direction === "out" && !isOpen && +m.id > (state.readUpTo || 0)) { unread++; renderBadge(); }
    if (isOpen) markRead();
    if (fresh && m.direction === "out") emit("message", m);
  }

  // The visitor's own messages say "letto" once someone of the team has read them.
  var teamRead = 0;
  function showRead() {
    Array.prototype.forEach.call(list.querySelectorAll(".msg.in[data-id] .tick"), function (tick) {
      var id = +tick.parentNode.parentNode.getAttribute("data-id");
      tick.textContent = id && id <= teamRead ? t.read : t.sent;
      tick.className = id && id <= teamRead ? "tick read" : "tick";
    });
  }

  // The CSAT question after a resolution: five buttons, one POST, then thanks.
  function ratingButtons() {
    var row = el("div", "rate");
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", null, String(n)); b.type = "button"; b.setAttribute("aria-label", n + t.stars);
      b.addEventListener("click", function () {
        api("/api/widget/csat", { rating: n }).then(function () { row.textContent = t.rated; })
          .catch(function (err) { console.error("Crocevia: " + err.message); });
      });
      row.appendChild(b);
    });
    return row;
  }

  function api(path, body) {
    return fetch(BASE + path, { method: body ? "POST" : "GET", headers: Object.assign({ "Content-Type": "application/json" },
      state.visitorToken ? { Authorization: "Bearer " + state.visitorToken } : {}), body: body ? JSON.stringify(body) : undefined })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) { var err = new Error((j.error && j.error.message) || r.status); err.body = j; err.status = r.status; throw err; } return j; }); });
  }

  function start(fields) {
    return api("/api/widget/sessions", Object.assign({ website_token: TOKEN, visitor_token: state.visitorToken || null }, fields || {}))
      .then(function (s) {
        state.visitorToken = s.visitor_token; inbox = s.inbox || {}; save();
        if (/^#[0-9a-f]{6}$/.test(inbox.colour || "")) host.style.setProperty("--c", inbox.colour);
        sub.textContent = availability();
        return api("/api/widget/messages");
      })
      .then(function (h) { teamRead = h.read_up_to || 0; h.messages.forEach(upsert); h.messages.forEach(function (m) { seen[m.id] = 1; }); if (!lastId) lastId = h.last_event_id; socket.open(); });
  }

  // One line under the title: the greeting (in the visitor's language) when someone is
  // there, "offline, back on …" when not; never both.
  function availability() {
    var g = inbox.greeting;
    var greeting = g && typeof g === "object" ? g[lang] || g.it || g.en || "" : g || "";
    if (inbox.online !== false) return greeting || t.online;
    var back = "";
    if (inbox.next_open_at) {
      try {
        back = new Date(inbox.next_open_at).toLocaleString(lang, { weekday: "long", hour: "2-digit", minute: "2-digit" });
      } catch (e) { back = ""; }
    }
    return back ? t.closedNow + " · " + t.reopens.replace("%s", back) : t.closedNow;
  }

  /* @inline ../shared/live_socket.js */
  var socket = liveSocket({
    url: WS,
    auth: function () { return { type: "auth", token: state.visitorToken, last_event_id: lastId }; },
    onFrame: function (f) {
      if (f.type === "ready") { status.textContent = ""; Object.keys(pending).forEach(function (cid) { socket.send(pending[cid]); }); }
      else if (f.type === "ack") { delete pending[f.client_id]; upsert(f.message); if (f.visitor_token) { state.visitorToken = f.visitor_token; save(); } }
      else if (f.type === "event") {
        lastId = f.id; save();
        if (f.data.message) upsert(f.data.message);
        if (f.data.read && +f.data.read.up_to > teamRead) { teamRead = +f.data.read.up_to; showRead(); }
      }
      else if (f.type === "typing") { showTyping(f); }
      else if (f.type === "resync") { api("/api/widget/messages").then(function (h) { h.messages.forEach(upsert); }); }
      else if (f.type === "error") { console.error("Crocevia: " + f.code + ": " + f.message); if (f.client_id && f.code !== "unavailable" && f.code !== "rate_limited") delete pending[f.client_id]; }
    },
    onClose: function (code) {
      if (code === 4401) { state.visitorToken = null; save(); }
      status.textContent = t.reconnecting;
    },
    // A visitor whose token was refused comes back with a new session.
    reopen: function () { if (state.visitorToken) socket.open(); else start().catch(function () {}); }
  });
  var typingShown = null;
  function showTyping(f) {
    typing.textContent = f.on ? (f.name || "") + " " + t.typing : "";
    clearTimeout(typingShown); // a lost "stopped typing" frame must not leave it forever
    if (f.on) typingShown = setTimeout(function () { typing.textContent = ""; }, 6000);
  }

  function sendText(text, files) {
    var frame = { type: "message", client_id: uuid(), text: text, attachments: (files || []).map(function (f) { return f.id; }) };
    pending[frame.client_id] = frame;
    upsert({ client_id: frame.client_id, direction: "in", text: text, attachments: files });
    socket.send(frame);
  }
  file.addEventListener("change", function () {
    var f = file.files[0]; file.value = "";
    if (!f) return;
    if (f.size > 10 * 1024 * 1024) { status.textContent = t.tooBig; return; }
    var form = new FormData(); form.append("file", f);
    fetch(BASE + "/api/widget/attachments", { method: "POST", body: form, headers: { Authorization: "Bearer " + state.visitorToken } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error((j.error && j.error.message) || r.status); return j; }); })
      .then(function (stored) { status.textContent = ""; sendText("", [stored]); })
      .catch(function (err) { status.textContent = err.message; console.error("Crocevia: " + err.message); });
  });
  compose.addEventListener("submit", function (e) { e.preventDefault(); var v = box.value.trim(); if (v) { sendText(v); box.value = ""; } });
  box.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); compose.requestSubmit(); } });
  var typingTimer = null;
  box.addEventListener("input", function () {
    if (!socket.isOpen()) return;
    if (!typingTimer) socket.send({ type: "typing", on: true });
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typingTimer = null; socket.send({ type: "typing", on: false }); }, 2000);
  });

  function prechat() {
    var p = inbox.prechat || {}, offline = inbox.online === false;
    var need = function (f) { return p[f] === "required" || (offline && f === "email"); };
    var wants = ["name", "email"].filter(function (f) { return need(f) || p[f] === "optional"; });
    if (state.prechatDone || !wants.length) { pre.hidden = true; compose.hidden = false; return; }
    compose.hidden = true; pre.textContent = "";
    pre.appendChild(el("p", null, offline ? t.offline : t.intro));
    var inputs = {};
    wants.forEach(function (f) {
      var i = el("input"); i.name = f; i.required = need(f); i.type = f === "email" ? "email" : "text";
      i.autocomplete = f === "email" ? "email" : "name";
      i.placeholder = t[f] + (need(f) ? "" : t.optional); i.setAttribute("aria-label", i.placeholder); inputs[f] = i; pre.appendChild(i);
    });
    if (inbox.privacy_url && /^https?:\/\//.test(inbox.privacy_url)) {
      var consent = el("p", "consent", t.consent), link = el("a", null, t.privacy);
      link.href = inbox.privacy_url; link.target = "_blank"; link.rel = "noopener";
      consent.appendChild(link); consent.appendChild(document.createTextNode(".")); pre.appendChild(consent);
    }
    var go = el("button", "send", t.start); go.type = "submit"; pre.appendChild(go);
    pre.onsubmit = function (e) {
      e.preventDefault();
      var body = {}; Object.keys(inputs).forEach(function (k) { if (inputs[k].value.trim()) body[k] = inputs[k].value.trim(); });
      var done = function () { state.prechatDone = true; save(); pre.hidden = true; compose.hidden = false; box.focus(); };
      (Object.keys(body).length ? api("/api/widget/contact", body) : Promise.resolve())
        .then(function (r) { if (r && r.visitor_token) { state.visitorToken = r.visitor_token; save(); } done(); })
        .catch(function (err) { console.error("Crocevia: " + err.message); });
    };
  }

  window.addEventListener("storage", function (e) { if (e.key === KEY) { var s = load(); if (s.visitorToken && s.visitorToken !== state.visitorToken) { state = s; socket.restart(); } } });

  window.Crocevia = {
    open: function () { setOpen(true); }, close: function () { setOpen(false); },
    setLocale: function (l) { if (T[l]) { t = T[l]; lang = l; box.placeholder = t.placeholder; } },
    on: function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); },
    setUser: function (u) {
      return api("/api/widget/identify", u).then(function (r) { state.visitorToken = r.visitor_token; save(); socket.restart(); return r; })
        .catch(function (err) { console.error("Crocevia: setUser refused: " + err.message); throw err; });
    }
  };

  function boot() { document.body.appendChild(host); start().then(prechat).catch(function (err) { console.error("Crocevia: " + err.message); }); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();

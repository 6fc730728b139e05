/* Crocevia's live-socket client, the one used by the agent console, the lead page and the
 * chat widget (docs/api.md, "Keeping a socket alive").
 *
 * One socket at a time. Every frame from the server resets a silence clock; a ping goes out
 * every 10 s and the server answers it, so a socket silent for 25 s is dead: it is dropped at
 * once and replaced, as it is when the browser goes offline. Reconnects back off (0.5 s,
 * doubling to 30 s, jittered so a restarted server is not hit by every page at once), wait
 * for the "online" event when the browser is offline, and resume from the last event id the
 * page kept: nothing missed, nothing twice.
 *
 * ES5 on purpose: the widget is a classic script on shops' pages and gets this file inlined
 * when /widget.js is served (gateway/widget_script.py); the console and the lead page import
 * it as a module. */
export function liveSocket(o) {
  // o.url: the socket's address.
  // o.auth(): the auth frame to send once the socket opens.
  // o.onFrame(frame): every frame the server sends but its pongs (the page handles "ready").
  // o.onClose(code): the socket closed; a page that signs out calls stop() here (4401).
  // o.reopen(): optional, how to come back after a close (default: open()); the widget
  //   makes a new session first when it has none.
  var SILENCE_MS = 25000, PING_MS = 10000, ws = null, heard = 0, retry = 0, timer = null;
  var stopped = true;

  function open() {
    clearTimeout(timer);
    stopped = false;
    forget();
    var sock = ws = new WebSocket(o.url);
    heard = Date.now();
    sock.onopen = function () { sock.send(JSON.stringify(o.auth())); };
    sock.onmessage = function (ev) {
      heard = Date.now();
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "pong") return;
      if (f.type === "ready") retry = 0;
      o.onFrame(f);
    };
    sock.onclose = function (e) { if (sock === ws) closed(e.code); };
  }

  function reopen() { if (!stopped) (o.reopen || open)(); }

  function closed(code) {
    ws = null;
    o.onClose(code);
    if (stopped) return;
    if (navigator.onLine === false) return; // the "online" event reconnects at once
    var delay = Math.min(30000, 500 * Math.pow(2, retry++)) * (0.5 + Math.random() / 2);
    timer = setTimeout(reopen, delay);
  }

  // Let go of the current socket without waiting for its close handshake.
  function forget() {
    var dead = ws;
    ws = null;
    if (dead) { dead.onclose = null; try { dead.close(); } catch (e) { /* already gone */ } }
    return dead;
  }

  function drop() { if (forget()) closed(1006); }

  function isOpen() { return !!ws && ws.readyState === 1; }

  function send(frame) {
    if (!isOpen()) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  setInterval(function () {
    if (!isOpen()) return;
    if (Date.now() - heard > SILENCE_MS) drop(); else send({ type: "ping" });
  }, PING_MS);
  window.addEventListener("offline", drop);
  window.addEventListener("online", function () {
    if (ws || stopped) return;
    retry = 0; clearTimeout(timer); reopen();
  });

  return {
    open: open,
    send: send,
    isOpen: isOpen,
    // Open a fresh socket now (new credentials: the next auth frame carries them).
    restart: function () { if (stopped) return; forget(); retry = 0; clearTimeout(timer); reopen(); },
    // No socket and no reconnect until open() is called again (signed out).
    stop: function () { stopped = true; clearTimeout(timer); forget(); }
  };
}

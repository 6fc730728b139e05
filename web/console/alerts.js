// Telling the agent: a colleague's @mention (the "@" button and its list), a sound and a
// desktop notification for a new conversation or a customer's message away from view.
import { el } from "./http.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// `ctx`: what the console shares. Returns the three the console calls.
export function agentAlerts({ api, state, flash, openConversation }) {
  // @mentions: a colleague named me in a note. The "@" button counts what I have not read
  // (opening the conversation reads it) and lists it.
  async function loadMentions() {
    let r;
    try { r = await api("/api/mentions"); } catch { return; }
    state.mentions = r.mentions;
    $("mentions-btn").hidden = !r.mentions.length;
    $("mentions-count").textContent = r.mentions.length ? String(r.mentions.length) : "";
    $("mentions-list").replaceChildren(...r.mentions.map((x) => {
      const li = el("li"); const b = el("button", "link", `#${x.conversation_id} · ${x.author || ""}: ${x.text}`);
      b.type = "button";
      b.addEventListener("click", async () => { showMentions(false); await openConversation(x.conversation_id); loadMentions(); });
      li.append(b); return li;
    }));
    if (!r.mentions.length) showMentions(false);
  }
  function showMentions(open) {
    $("mentions-list").hidden = !open; $("mentions-btn").setAttribute("aria-expanded", String(open));
  }
  $("mentions-btn").addEventListener("click", () => showMentions($("mentions-list").hidden));
  function mentioned(c, m) {
    const who = m.author?.name || "";
    flash(t("mentioned_you", who));
    if (state.sound) beep(990);
    if (window.Notification?.permission === "granted" && !document.hasFocus()) {
      const n = new Notification(t("mentioned_you", who), { body: (m.text || "").slice(0, 140), tag: `mention-${m.id}` });
      n.onclick = () => { window.focus(); openConversation(c.id); };
    }
    loadMentions();
  }

  function alertAgent(c, m, newConversation) {
    if (document.hasFocus() && c.id === state.current) return;
    if (state.sound) beep(newConversation ? 880 : 660);
    if (newConversation && window.Notification?.permission === "granted") {
      const n = new Notification(t("new_conversation"), { body: `${c.contact?.name || ""}: ${m.text || ""}`.slice(0, 140), tag: `conv-${c.id}` });
      n.onclick = () => { window.focus(); openConversation(c.id); };
    }
  }

  let audio;
  function beep(freq) {
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq; gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination); osc.start(); osc.stop(audio.currentTime + 0.25);
    } catch { /* no audio: the badge and the title still tell */ }
  }

  return { loadMentions, mentioned, alertAgent };
}

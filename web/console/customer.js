// The customer beside the chat: their details (edited in place), their identities on every
// channel, recent sentiment, past conversations, notes for colleagues, and the same customer
// on other channels to merge (undo for a day). Every customer text goes in as textContent.
import { el } from "./http.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// `ctx`: what the console shares with the panel. Returns `loadCustomer(contactId)`.
export function customerPanel({ api, state, time, badge, option, flash, channels, openConversation }) {
  async function loadCustomer(contactId) {
    let r;
    try { r = await api(`/api/contacts/${contactId}`); } catch { return; }
    state.contact = contactId; loadDuplicates(contactId); loadNotes(contactId);
    const c = r.contact;
    const rows = [["name", c.name], ["email", c.email], ["phone", c.phone], ["stage", c.lifecycle_stage ? t(`stage_${c.lifecycle_stage}`) : null], ["since", time(c.created_at, true)]];
    const rated = r.csat[String(state.current)];
    if (rated) rows.push(["csat_answer", `${"★".repeat(rated.rating)}${"☆".repeat(5 - rated.rating)} ${rated.rating}/5${rated.comment ? ` — ${rated.comment}` : ""}`]);
    $("contact-details").replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", null, t(k)), el("dd", null, v)]));
    const edit = el("button", "link", t("edit_contact")); edit.type = "button"; edit.id = "contact-edit";
    edit.addEventListener("click", () => editContact(c));
    if (!c.erased_at) $("contact-details").append(el("dt"), el("dd"));
    if (!c.erased_at) $("contact-details").lastChild.append(edit);
    $("identities").replaceChildren(...r.identities.map((i) => {
      const who = i.handle || (i.channel === "website" ? t("site_visitor") : i.external_id);
      const li = el("li"); li.append(badge(i.channel), ` ${who}`); return li;
    }));
    const moods = r.recent_sentiment.slice(0, 12).reverse();
    $("sentiment").replaceChildren(...moods.map((s) => {
      const bar = el("span", `bar ${s.label}`); bar.title = `${t(s.label)} ${s.score.toFixed(2)} · ${time(s.created_at, true)}`;
      bar.style.height = `${8 + Math.round(Math.abs(s.score) * 24)}px`; return bar;
    }));
    if (!moods.length) $("sentiment").append(el("span", "muted", t("none")));
    $("past").replaceChildren(...r.conversations.map((pc) => {
      const stars = r.csat[String(pc.id)] ? ` · ★ ${r.csat[String(pc.id)].rating}/5` : "";
      const li = el("li"); const b = el("button", "link", `#${pc.id} · ${channels[pc.channel] || pc.channel} · ${t(pc.status)} · ${time(pc.created_at, true)}${stars}`);
      b.type = "button"; b.addEventListener("click", () => { state.conversations.set(pc.id, { ...pc, ...(state.conversations.get(pc.id) || {}) }); openConversation(pc.id); });
      li.append(b); return li;
    }));
  }

  // Notes about the customer, for the colleagues who meet them next.
  async function loadNotes(contactId) {
    let r;
    try { r = await api(`/api/contacts/${contactId}/notes`); } catch { r = { notes: [] }; }
    if (state.contact !== contactId) return;
    $("contact-notes").replaceChildren(...r.notes.map((n) => {
      const li = el("li", "note-item"); li.append(el("div", null, n.text), el("div", "muted", `${n.author || ""} · ${time(n.created_at, true)}`));
      return li;
    }));
  }
  $("contact-note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = e.target.elements.text; const text = box.value.trim();
    if (!text || !state.contact) return;
    try {
      await api(`/api/contacts/${state.contact}/notes`, { method: "POST", body: JSON.stringify({ text }) });
      box.value = ""; loadNotes(state.contact);
    } catch (err) { flash(err.message); }
  });

  // The customer's name, email, phone and lifecycle stage, edited in the panel.
  function editContact(c) {
    const form = el("form", "contact-form"); form.id = "contact-form";
    const field = (name, value, type = "text") => {
      const l = el("label"); const i = el("input"); i.name = name; i.type = type; i.value = value || "";
      l.append(el("span", null, t(name === "lifecycle_stage" ? "stage" : name)), i); return l;
    };
    const stage = el("label"); const pick = el("select"); pick.name = "lifecycle_stage";
    for (const s of ["lead", "prospect", "customer", "churned"]) pick.append(option(s, t(`stage_${s}`), s === c.lifecycle_stage));
    stage.append(el("span", null, t("stage")), pick);
    const save = el("button", "primary", t("save")); save.type = "submit";
    const cancel = el("button", null, t("cancel")); cancel.type = "button";
    cancel.addEventListener("click", () => loadCustomer(c.id));
    form.append(field("name", c.name), field("email", c.email, "email"), field("phone", c.phone, "tel"), stage, save, cancel);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = Object.fromEntries(["name", "email", "phone", "lifecycle_stage"].map((k) => [k, form.elements[k].value.trim()]));
      try {
        await api(`/api/contacts/${c.id}`, { method: "PATCH", body: JSON.stringify(body) });
        await loadCustomer(c.id);
      } catch (err) { flash(err.message); }
    });
    $("contact-details").replaceChildren(form);
    form.elements.name.focus();
  }

  // The same customer on other channels (shared email or phone): merge, and undo for a day.
  async function loadDuplicates(contactId) {
    let r;
    try { r = await api(`/api/contacts/${contactId}/merge_suggestions`); } catch { r = { suggestions: [] }; }
    if (state.contact !== contactId) return;
    const items = r.suggestions.map((s) => {
      const li = el("li"); const who = s.contact.name || s.contact.email || s.contact.phone || `#${s.contact.id}`;
      li.append(...s.channels.map(badge), ` ${who} · ${s.reasons.map((k) => t(k)).join(", ")} `);
      const b = el("button", "link", t("merge_contact")); b.type = "button";
      b.addEventListener("click", async () => {
        try {
          const done = await api(`/api/contacts/${contactId}/merge`, { method: "POST", body: JSON.stringify({ other_id: s.contact.id }) });
          state.lastMerge = done.merge; flash(t("contacts_merged")); loadCustomer(contactId);
        } catch (err) { flash(err.message); }
      });
      li.append(b); return li;
    });
    if (state.lastMerge?.kept_contact_id === contactId) {
      const b = el("button", "link", t("undo_merge")); b.type = "button";
      b.addEventListener("click", async () => {
        try { await api(`/api/contact_merges/${state.lastMerge.id}/undo`, { method: "POST" }); state.lastMerge = null; loadCustomer(contactId); } catch (err) { flash(err.message); }
      });
      const li = el("li"); li.append(b); items.push(li);
    }
    $("duplicates-title").hidden = !items.length;
    $("duplicates").replaceChildren(...items);
  }

  return loadCustomer;
}

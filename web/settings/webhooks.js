// The webhooks tab: subscriptions with pause, log and delete; a form for a new one (its
// signing secret is shown once); each subscription's delivery log with "send again".
import { el } from "../console/http.js";
import { t } from "../console/i18n.js";
import { notice } from "./settings.js";

const $ = (id) => document.getElementById(id);
const view = { api: null, events: [] };

function button(label, action) {
  const b = el("button", null, label);
  b.type = "button";
  b.addEventListener("click", () => action().catch((err) => notice(err.message)));
  return b;
}

export async function showWebhooks(api) {
  view.api = api;
  const { webhooks, events } = await api("/api/admin/webhooks");
  view.events = events;
  $("webhook-events").replaceChildren(...events.map((name) => {
    const label = el("label");
    const box = el("input"); box.type = "checkbox"; box.name = "event"; box.value = name;
    label.append(box, el("code", null, name));
    return label;
  }));
  $("webhook-list").tBodies[0].replaceChildren(...webhooks.map(row));
  $("webhook-log").hidden = true;
}

function row(hook) {
  const state = el("td");
  state.append(el("span", hook.active ? "tag" : "tag off", hook.active ? t("s_hook_on") : t("s_paused")));
  if (hook.failed) state.append(" ", el("span", "tag missing", t("s_failed_n", hook.failed)));
  const actions = el("div", "actions");
  actions.append(
    button(hook.active ? t("s_pause") : t("s_resume"), async () => {
      await view.api(`/api/admin/webhooks/${hook.id}`, { method: "PATCH", body: JSON.stringify({ active: !hook.active }) });
      await showWebhooks(view.api); notice(t("s_saved"));
    }),
    button(t("s_log"), () => showLog(hook)),
    button(t("s_delete"), async () => {
      if (!window.confirm(t("s_delete_webhook"))) return;
      await view.api(`/api/admin/webhooks/${hook.id}`, { method: "DELETE" });
      await showWebhooks(view.api); notice(t("s_saved"));
    }),
  );
  const tr = el("tr");
  tr.dataset.webhook = hook.id;
  const url = el("td", "url"); url.append(el("code", null, hook.url));
  if (hook.description) url.append(el("div", "hint", hook.description));
  tr.append(url, el("td", null, hook.events.length ? hook.events.join(", ") : t("s_all_events")), state, el("td"));
  tr.lastChild.append(actions);
  return tr;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" }) : "—";
}

async function showLog(hook) {
  const { deliveries } = await view.api(`/api/admin/webhooks/${hook.id}/deliveries`);
  const box = $("webhook-log");
  box.hidden = false;
  $("webhook-log-title").textContent = `${t("s_log")}: ${hook.url}`;
  const body = $("webhook-deliveries").tBodies[0];
  if (!deliveries.length) {
    const empty = el("td", "hint", t("s_no_deliveries")); empty.colSpan = 5;
    const tr = el("tr"); tr.append(empty); body.replaceChildren(tr); return;
  }
  body.replaceChildren(...deliveries.map((d) => {
    const tr = el("tr");
    tr.dataset.delivery = d.id;
    const answer = d.last_status ? `HTTP ${d.last_status}` : (d.last_error || "—");
    const cell = el("td");
    if (d.status !== "sent") cell.append(button(t("s_redeliver"), async () => {
      await view.api(`/api/admin/webhooks/${hook.id}/deliveries/${d.id}/redeliver`, { method: "POST" });
      await showLog(hook); notice(t("s_saved"));
    }));
    tr.append(el("td", null, `${d.event} · ${when(d.created_at)}`),
      el("td", null, t(`s_status_${d.status}`)), el("td", null, String(d.attempts)),
      el("td", null, d.last_error && d.last_status ? `${answer} (${d.last_error})` : answer), cell);
    return tr;
  }));
}

$("webhook-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const events = [...f.querySelectorAll("input[name=event]:checked")].map((b) => b.value);
  try {
    const made = await view.api("/api/admin/webhooks", { method: "POST", body: JSON.stringify({
      url: f.elements.url.value.trim(), events, description: f.elements.description.value.trim() || null }) });
    f.reset(); $("webhook-error").textContent = "";
    await showWebhooks(view.api);
    notice(t("s_secret_once", made.secret));
  } catch (err) { $("webhook-error").textContent = err.message; }
});

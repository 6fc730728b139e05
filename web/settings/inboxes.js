// The inboxes tab: the list with each channel's actions, and one form for creating and
// editing an inbox. Fields are declared per channel below; a secret field is never filled
// in (the server only says where the secret lives) and an empty one leaves it unchanged.
import { el } from "../console/http.js";
import { t } from "../console/i18n.js";
import { notice } from "./settings.js";

const $ = (id) => document.getElementById(id);
const CHANNELS = ["website", "telegram", "email", "x", "messenger", "instagram", "whatsapp", "api"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LEVELS = ["off", "optional", "required"];

const text = (key, label) => ({ key, kind: "text", label: label || `s_${key}` });
const number = (key, label) => ({ key, kind: "number", label: label || `s_${key}` });
const choice = (key, options, label, names) => ({ key, kind: "choice", options, names, label: label || `s_${key}` });
const secret = (key) => ({ key, kind: "secret", label: `s_${key}` });
const META = [secret("app_secret"), secret("verify_token"), secret("access_token")];

const CHANNEL_FIELDS = {
  website: [
    { ...text("greeting"), wide: true }, { key: "colour", kind: "colour", label: "s_widget_colour" },
    { key: "allowed_origins", kind: "lines", label: "s_origins", wide: true },
    choice("prechat.name", LEVELS, "s_prechat_name", (v) => t(`s_${v}`)),
    choice("prechat.email", LEVELS, "s_prechat_email", (v) => t(`s_${v}`)),
  ],
  telegram: [secret("bot_token"), text("api_base_url")],
  email: [
    text("address"), text("from_name"), text("imap_host"), number("imap_port"),
    choice("imap_security", ["tls", "none"]), text("imap_username"), secret("imap_password"),
    text("smtp_host"), number("smtp_port"), choice("smtp_security", ["starttls", "tls", "none"]),
    text("smtp_username"), secret("smtp_password"), text("smtp_ca_file"),
  ],
  x: [text("account_id"), text("account_handle"), secret("consumer_key"), secret("consumer_secret"),
    secret("access_token"), secret("access_token_secret"), secret("bearer_token")],
  messenger: [text("page_id"), ...META],
  instagram: [text("instagram_account_id"), ...META],
  whatsapp: [text("phone_number_id"), ...META],
  api: [{ ...text("reply_url"), wide: true }, secret("api_token")],
};
const SERVICE_FIELDS = [
  choice("language", ["it", "en"], "s_language", (v) => t(`lang_${v}`)),
  { key: "auto_reply.it", kind: "area", label: "s_auto_reply_it", wide: true },
  { key: "auto_reply.en", kind: "area", label: "s_auto_reply_en", wide: true },
  { key: "csat", kind: "check", label: "s_csat" },
  ...["urgent", "high", "normal", "low"].flatMap((p) => [
    number(`sla.${p}.first_response_minutes`, `s_sla_first_${p}`),
    number(`sla.${p}.next_response_minutes`, `s_sla_next_${p}`),
  ]),
];

const view = { api: null, inboxes: [], teams: [], editing: null };

export async function showInboxes(api) {
  view.api = api;
  [view.inboxes, view.teams] = await Promise.all([api("/api/admin/inboxes"), api("/api/admin/teams")]);
  renderList();
}

function renderList() {
  const teams = new Map(view.teams.map((x) => [x.id, x.name]));
  $("inbox-list").tBodies[0].replaceChildren(...view.inboxes.map((inbox) => {
    const missing = Object.entries(inbox.secrets).filter(([, where]) => where === "missing").map(([k]) => t(`s_${k}`));
    const stateCell = el("td");
    stateCell.append(el("span", inbox.disabled ? "tag off" : "tag", t(inbox.disabled ? "s_disabled" : "s_enabled")));
    for (const name of missing) stateCell.append(" ", el("span", "tag missing", `${name}: ${t("s_secret_missing")}`));
    const actions = el("div", "actions");
    actions.append(button(t("s_edit"), () => openForm(inbox)),
      button(t(inbox.disabled ? "s_enable" : "s_disable"), () => setDisabled(inbox, !inbox.disabled)));
    if (inbox.channel === "telegram") actions.append(button(t("s_set_webhook"), () => setWebhook(inbox)));
    if (inbox.channel === "email") actions.append(button(t("s_check_email"), () => checkEmail(inbox)));
    const tr = el("tr");
    tr.dataset.inbox = inbox.id;
    tr.append(el("td", null, inbox.name), el("td", null, t(`ch_${inbox.channel}`)),
      el("td", null, teams.get(inbox.team_id) || "—"), stateCell, el("td"));
    tr.lastChild.append(actions);
    return tr;
  }));
}

function button(label, action) {
  const b = el("button", null, label);
  b.type = "button";
  b.addEventListener("click", () => action().catch((err) => notice(err.message)));
  return b;
}

async function setDisabled(inbox, disabled) {
  await view.api(`/api/admin/inboxes/${inbox.id}`, { method: "PATCH", body: JSON.stringify({ disabled }) });
  notice(t("s_saved"));
  await showInboxes(view.api);
}

async function setWebhook(inbox) {
  const r = await view.api(`/api/admin/inboxes/${inbox.id}/telegram_webhook`, { method: "POST" });
  notice(t("s_webhook_set", r.url));
}

async function checkEmail(inbox) {
  const r = await view.api(`/api/admin/inboxes/${inbox.id}/email_check`, { method: "POST" });
  const line = (name, c) => `${name}: ${c.ok ? t("s_ok") : t("s_failed")} — ${c.detail}`;
  notice(`${line("IMAP", r.imap)} · ${line("SMTP", r.smtp)}`);
}

// ---- the form ----------------------------------------------------------------------------

function get(obj, path) { return path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj); }

function put(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) { if (typeof o[k] !== "object" || o[k] === null) o[k] = {}; o = o[k]; }
  if (value === null) delete o[keys.at(-1)]; else o[keys.at(-1)] = value;
}

function prune(value) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  for (const [k, v] of Object.entries(value)) { value[k] = prune(v); if (value[k] === undefined) delete value[k]; }
  return Object.keys(value).length ? value : undefined;
}

function input(field, inbox) {
  const label = el("label", field.wide ? "wide" : null);
  label.append(el("span", null, t(field.label)));
  const current = inbox ? get(inbox.settings, field.key) : undefined;
  let control;
  if (field.kind === "choice") {
    control = el("select");
    control.append(el("option", null, "—"));
    control.lastChild.value = "";
    for (const v of field.options) {
      const o = el("option", null, field.names ? field.names(v) : v);
      o.value = v; control.append(o);
    }
    control.value = current ?? "";
  } else if (field.kind === "area" || field.kind === "lines") {
    control = el("textarea");
    control.value = field.kind === "lines" ? (current || []).join("\n") : current || "";
  } else if (field.kind === "colour") {
    control = el("input"); control.type = "color"; control.value = current || "#0b6e4f";
  } else if (field.kind === "check") {
    control = el("input"); control.type = "checkbox"; control.checked = current !== false;
    label.classList.add("check");
  } else {
    control = el("input");
    control.type = field.kind === "number" ? "number" : field.kind === "secret" ? "password" : "text";
    if (field.kind === "secret") {
      const where = inbox ? inbox.secrets[field.key] : "missing";
      control.placeholder = where === "missing" ? "" : `${t("s_secret_set", where)} — ${t("s_secret_hint")}`;
      control.autocomplete = "new-password";
    } else control.value = current ?? "";
  }
  control.name = field.key;
  control.dataset.kind = field.kind;
  label.append(control);
  return label;
}

function valueOf(control) {
  const raw = control.type === "checkbox" ? control.checked : control.value.trim();
  switch (control.dataset.kind) {
    case "check": return raw;
    case "number": return raw === "" ? null : Number(raw);
    case "lines": { const list = raw.split(/\s+/).filter(Boolean); return list.length ? list : null; }
    default: return raw === "" ? null : raw;
  }
}

function hoursEditor(inbox) {
  const box = $("inbox-hours");
  const hours = (inbox && inbox.settings.business_hours) || {};
  box.replaceChildren();
  for (const day of DAYS) {
    const spans = (hours.schedule || {})[day] || [];
    const from = el("input"); from.type = "time"; from.name = `hours.${day}.from`; from.value = spans.length ? spans[0][0] : "";
    const to = el("input"); to.type = "time"; to.name = `hours.${day}.to`; to.value = spans.length ? spans.at(-1)[1].replace("24:00", "23:59") : "";
    from.setAttribute("aria-label", `${day} ${t("s_from")}`); to.setAttribute("aria-label", `${day} ${t("s_to")}`);
    box.append(el("span", null, t("weekdays").split(",")[DAYS.indexOf(day)]), from, to);
  }
  const holidays = el("label", "check"); const h = el("input"); h.type = "checkbox"; h.name = "hours.holidays";
  h.checked = hours.holidays === "IT";
  holidays.append(h, el("span", null, t("s_holidays")));
  const closures = el("label", "wide-hours"); const c = el("textarea"); c.name = "hours.closures";
  c.value = (hours.closures || []).map((x) => `${x.from} ${x.to}`).join("\n");
  closures.append(el("span", null, t("s_closures")), c);
  box.append(holidays, closures);
}

function hoursValue(inbox) {
  const old = (inbox && inbox.settings.business_hours) || {};
  const form = $("inbox-form");
  const schedule = {};
  let any = false;
  for (const day of DAYS) {
    const from = form.elements[`hours.${day}.from`].value, to = form.elements[`hours.${day}.to`].value;
    const before = (old.schedule || {})[day] || [];
    const unchanged = before.length && from === before[0][0] && to === before.at(-1)[1].replace("24:00", "23:59");
    schedule[day] = unchanged ? before : from && to ? [[from, to === "23:59" ? "24:00" : to]] : [];
    any = any || schedule[day].length > 0;
  }
  const holidays = form.elements["hours.holidays"].checked ? "IT" : null;
  const closures = form.elements["hours.closures"].value.split("\n").map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts[0]).map(([from, to]) => ({ from, to: to || from }));
  if (!any && !holidays && !closures.length) return null;
  // No weekly hours but closures or holidays: open around the clock on the other days.
  if (!any) for (const day of DAYS) schedule[day] = [["00:00", "24:00"]];
  return { ...old, schedule, holidays, closures };
}

function channelFields(channel, inbox) {
  $("inbox-channel").replaceChildren(...CHANNEL_FIELDS[channel].map((f) => input(f, inbox)));
}

async function openForm(inbox) {
  view.teams = await view.api("/api/admin/teams"); // a team made a moment ago is offered too
  view.editing = inbox;
  const form = $("inbox-form");
  form.hidden = false;
  $("inbox-error").textContent = "";
  $("inbox-form-title").textContent = t(inbox ? "s_edit_inbox" : "s_new_inbox");
  const basics = $("inbox-basics");
  const name = el("label"); name.append(el("span", null, t("name")));
  const nameInput = el("input"); nameInput.name = "name"; nameInput.required = true; nameInput.maxLength = 200;
  nameInput.value = inbox ? inbox.name : ""; name.append(nameInput);
  const channel = el("label"); channel.append(el("span", null, t("channel")));
  const channelSelect = el("select"); channelSelect.name = "channel";
  for (const c of CHANNELS) { const o = el("option", null, t(`ch_${c}`)); o.value = c; channelSelect.append(o); }
  channelSelect.value = inbox ? inbox.channel : "website"; channelSelect.disabled = Boolean(inbox);
  channelSelect.addEventListener("change", () => channelFields(channelSelect.value, null));
  channel.append(channelSelect);
  const team = el("label"); team.append(el("span", null, t("team")));
  const teamSelect = el("select"); teamSelect.name = "team_id";
  teamSelect.append(el("option", null, "—")); teamSelect.lastChild.value = "";
  for (const x of view.teams) { const o = el("option", null, x.name); o.value = x.id; teamSelect.append(o); }
  teamSelect.value = inbox && inbox.team_id ? String(inbox.team_id) : "";
  team.append(teamSelect);
  const zone = el("label"); zone.append(el("span", null, t("s_timezone")));
  const zoneInput = el("input"); zoneInput.name = "timezone"; zoneInput.value = inbox ? inbox.timezone : "Europe/Rome";
  zone.append(zoneInput);
  basics.replaceChildren(name, channel, team, zone);
  if (inbox && inbox.snippet) {
    const snippet = el("label", "wide"); snippet.append(el("span", null, t("s_snippet")), el("code", "snippet", inbox.snippet));
    basics.append(snippet);
  }
  if (inbox && inbox.webhook_url) {
    const hook = el("label", "wide"); hook.append(el("span", null, t("s_webhook_url")), el("code", "snippet", inbox.webhook_url));
    basics.append(hook);
  }
  channelFields(channelSelect.value, inbox);
  $("inbox-service").replaceChildren(...SERVICE_FIELDS.map((f) => input(f, inbox)));
  hoursEditor(inbox);
  nameInput.focus();
}

async function save(e) {
  e.preventDefault();
  const form = $("inbox-form");
  const inbox = view.editing;
  const channel = inbox ? inbox.channel : form.elements.channel.value;
  const fields = [...CHANNEL_FIELDS[channel], ...SERVICE_FIELDS];
  const owned = new Set(fields.filter((f) => f.kind !== "secret").map((f) => f.key.split(".")[0]));
  const next = {};
  for (const key of owned) next[key] = structuredClone(inbox ? inbox.settings[key] : undefined);
  const secrets = {};
  for (const f of fields) {
    const value = valueOf(form.elements[f.key]);
    if (f.kind === "secret") { if (value) secrets[f.key] = value; continue; }
    if (f.kind === "check" && value === true && !(inbox && f.key in inbox.settings)) continue; // the default
    put(next, f.key, value);
  }
  const settings = {};
  for (const key of owned) settings[key] = prune(next[key]) ?? null;
  settings.business_hours = hoursValue(inbox);
  const body = { name: form.elements.name.value.trim(), timezone: form.elements.timezone.value.trim(),
    team_id: form.elements.team_id.value ? Number(form.elements.team_id.value) : null, settings };
  if (Object.keys(secrets).length) body.secrets = secrets;
  try {
    if (inbox) {
      await view.api(`/api/admin/inboxes/${inbox.id}`, { method: "PATCH", body: JSON.stringify(body) });
    } else {
      for (const [k, v] of Object.entries(body.settings)) if (v === null) delete body.settings[k];
      const made = await view.api("/api/admin/inboxes", { method: "POST", body: JSON.stringify({ ...body, channel }) });
      if (made.snippet) { await showInboxes(view.api); form.hidden = true; notice(`${t("s_snippet")}: ${made.snippet}`); return; }
      if (made.api_token) {
        await showInboxes(view.api); form.hidden = true;
        notice(`${t("s_api_token_once", made.api_token)} · ${t("s_webhook_url")}: ${made.webhook_url}`); return;
      }
    }
  } catch (err) { $("inbox-error").textContent = err.message; return; }
  form.hidden = true;
  await showInboxes(view.api);
  notice(t("s_saved"));
}

$("new-inbox").addEventListener("click", () => openForm(null).catch((err) => notice(err.message)));
$("inbox-cancel").addEventListener("click", () => { $("inbox-form").hidden = true; });
$("inbox-form").addEventListener("submit", save);

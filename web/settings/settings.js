// Crocevia settings (admins): inboxes, teams, agents, canned replies and webhooks through /api/admin/*.
// The page holds no secret: secrets typed here go to the server, which stores them as files.
import { makeApi } from "../console/http.js";
import { setLanguage } from "../console/i18n.js";
import { showCanned } from "./canned.js";
import { showLabels } from "./labels.js";
import { showInboxes } from "./inboxes.js";
import { showAgents, showTeams } from "./people.js";
import { showWebhooks } from "./webhooks.js";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("crocevia:token") };
const api = makeApi(() => state.token, () => logout());

function logout() {
  sessionStorage.removeItem("crocevia:token"); state.token = null;
  $("app").hidden = true; $("login").hidden = false;
}

export function notice(text) {
  const box = $("notice");
  box.textContent = text; box.hidden = !text;
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

const TABS = { inboxes: showInboxes, teams: showTeams, agents: showAgents, canned: showCanned, labels: showLabels, webhooks: showWebhooks };

async function openTab(name) {
  for (const key of Object.keys(TABS)) {
    $(`tab-${key}`).setAttribute("aria-selected", String(key === name));
    $(key).hidden = key !== name;
  }
  notice("");
  await TABS[name](api);
}

for (const name of Object.keys(TABS)) $(`tab-${name}`).addEventListener("click", () => openTab(name));

async function boot() {
  const me = await api("/api/me");
  setLanguage(me.language);
  if (me.role !== "admin") { $("login-error").textContent = "403"; logout(); return; }
  $("login").hidden = true; $("app").hidden = false;
  await openTab("inboxes");
}

if (state.token) boot().catch(() => logout());

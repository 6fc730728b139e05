// The teams and agents tabs: lists that edit in place (policy, role, capacity, active),
// a form for a new team, and the invitation of an agent (its first password shown once).
import { el } from "../console/http.js";
import { t } from "../console/i18n.js";
import { notice } from "./settings.js";

const $ = (id) => document.getElementById(id);
const POLICIES = ["round_robin", "least_busy", "manual"];
const ROLES = ["agent", "lead", "admin", "marketing"];
const LANGUAGES = ["it", "en", "es", "fr", "de", "pt"];
const view = { api: null, teams: [], agents: [] };

function select(options, value, label, name) {
  const s = el("select");
  for (const v of options) { const o = el("option", null, label(v)); o.value = v; s.append(o); }
  s.value = value;
  if (name) s.setAttribute("aria-label", name);
  return s;
}

function fill(selectEl, options, label) {
  selectEl.replaceChildren(...options.map((v) => { const o = el("option", null, label(v)); o.value = v; return o; }));
}

async function patch(path, body) {
  try {
    await view.api(path, { method: "PATCH", body: JSON.stringify(body) });
    notice(t("s_saved"));
  } catch (err) { notice(err.message); }
}

// ---- teams ---------------------------------------------------------------------------

export async function showTeams(api) {
  view.api = api;
  view.teams = await api("/api/admin/teams");
  fill($("team-form").elements.routing_policy, POLICIES, (p) => t(p));
  $("team-list").tBodies[0].replaceChildren(...view.teams.map((team) => {
    const policy = select(POLICIES, team.routing_policy, (p) => t(p), `${t("policy")} ${team.name}`);
    policy.addEventListener("change", () => patch(`/api/admin/teams/${team.id}`, { routing_policy: policy.value }));
    const tr = el("tr");
    tr.append(el("td", null, team.name), el("td"), el("td", "num", String(team.members)));
    tr.children[1].append(policy);
    return tr;
  }));
}

$("team-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    await view.api("/api/admin/teams", { method: "POST", body: JSON.stringify({
      name: f.elements.name.value.trim(), routing_policy: f.elements.routing_policy.value }) });
    f.reset(); $("team-error").textContent = "";
    await showTeams(view.api);
    notice(t("s_saved"));
  } catch (err) { $("team-error").textContent = err.message; }
});

// ---- agents --------------------------------------------------------------------------

function checks(box, name, options, label, chosen) {
  box.replaceChildren(...options.map((v) => {
    const l = el("label"); const c = el("input");
    c.type = "checkbox"; c.name = name; c.value = v; c.checked = chosen.includes(v);
    l.append(c, el("span", null, label(v)));
    return l;
  }));
}

export async function showAgents(api) {
  view.api = api;
  [view.agents, view.teams] = await Promise.all([api("/api/admin/agents"), api("/api/admin/teams")]);
  const teamName = new Map(view.teams.map((x) => [x.id, x.name]));
  fill($("agent-form").elements.role, ROLES, (r) => t(`role_${r}`));
  checks($("agent-teams"), "team_ids", view.teams.map((x) => String(x.id)), (id) => teamName.get(Number(id)), []);
  checks($("agent-languages"), "languages", LANGUAGES, (l) => t(`lang_${l}`), ["it", "en"]);
  $("agent-list").tBodies[0].replaceChildren(...view.agents.map((agent) => {
    const role = select(ROLES, agent.role, (r) => t(`role_${r}`), `${t("s_role")} ${agent.name}`);
    role.addEventListener("change", () => patch(`/api/admin/agents/${agent.id}`, { role: role.value }));
    const capacity = el("input"); capacity.type = "number"; capacity.min = "0"; capacity.max = "100";
    capacity.value = agent.capacity; capacity.setAttribute("aria-label", `${t("s_capacity")} ${agent.name}`);
    capacity.addEventListener("change", () => patch(`/api/admin/agents/${agent.id}`, { capacity: Number(capacity.value) }));
    const active = el("input"); active.type = "checkbox"; active.checked = agent.active;
    active.setAttribute("aria-label", `${t("s_active")} ${agent.name}`);
    active.addEventListener("change", () => patch(`/api/admin/agents/${agent.id}`, { active: active.checked }));
    const who = el("td"); who.append(el("div", null, agent.name), el("div", "hint", agent.email));
    const tr = el("tr");
    tr.append(who, el("td"), el("td", null, agent.team_ids.map((id) => teamName.get(id)).join(", ") || "—"),
      el("td", null, agent.languages.join(", ")), el("td"), el("td"));
    tr.children[1].append(role); tr.children[4].append(capacity); tr.children[5].append(active);
    return tr;
  }));
}

$("agent-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  const chosen = (name) => [...f.querySelectorAll(`input[name=${name}]:checked`)].map((c) => c.value);
  const body = { name: f.elements.name.value.trim(), email: f.elements.email.value.trim(), role: f.elements.role.value,
    capacity: Number(f.elements.capacity.value || 5), languages: chosen("languages"),
    team_ids: chosen("team_ids").map(Number) };
  try {
    const made = await view.api("/api/admin/agents", { method: "POST", body: JSON.stringify(body) });
    f.reset(); $("agent-error").textContent = "";
    await showAgents(view.api);
    notice(t("s_invited", made.password));
  } catch (err) { $("agent-error").textContent = err.message; }
});

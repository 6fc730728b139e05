// The canned responses tab: the list with delete, and a form for a new one.
import { el } from "../console/http.js";
import { t } from "../console/i18n.js";
import { notice } from "./settings.js";

const $ = (id) => document.getElementById(id);
const view = { api: null };

export async function showCanned(api) {
  view.api = api;
  const rows = await api("/api/canned_responses");
  $("canned-list").tBodies[0].replaceChildren(...rows.map((c) => {
    const del = el("button", null, t("s_delete")); del.type = "button";
    del.setAttribute("aria-label", `${t("s_delete")} /${c.short_code}`);
    del.addEventListener("click", async () => {
      try { await api(`/api/canned_responses/${c.id}`, { method: "DELETE" }); await showCanned(api); notice(t("s_saved")); } catch (err) { notice(err.message); }
    });
    const tr = el("tr");
    tr.append(el("td", null, `/${c.short_code}`), el("td", null, c.text), el("td"));
    tr.lastChild.append(del);
    return tr;
  }));
}

$("canned-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    await view.api("/api/canned_responses", { method: "POST", body: JSON.stringify({
      short_code: f.elements.short_code.value.trim().toLowerCase(), text: f.elements.text.value }) });
    f.reset(); $("canned-error").textContent = "";
    await showCanned(view.api);
    notice(t("s_saved"));
  } catch (err) { $("canned-error").textContent = err.message; }
});

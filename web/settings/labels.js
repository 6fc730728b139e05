// The labels tab: the catalogue the console offers (name, colour, meaning), with
// recolouring in place and removal; a form for a new label.
import { el } from "../console/http.js";
import { t } from "../console/i18n.js";
import { notice } from "./settings.js";

const $ = (id) => document.getElementById(id);
const view = { api: null };

export async function showLabels(api) {
  view.api = api;
  const rows = await api("/api/labels");
  $("label-list").tBodies[0].replaceChildren(...rows.map((l) => {
    const tr = el("tr");
    tr.dataset.label = l.name;
    const chip = el("span", "chip coloured", l.name); chip.style.setProperty("--chip", l.colour);
    const pick = el("input"); pick.type = "color"; pick.value = l.colour;
    pick.setAttribute("aria-label", `${t("s_colour")} ${l.name}`);
    pick.addEventListener("change", () => save(l.id, { colour: pick.value }));
    const del = el("button", null, t("s_delete")); del.type = "button";
    del.setAttribute("aria-label", `${t("s_delete")} ${l.name}`);
    del.addEventListener("click", async () => {
      try { await api(`/api/labels/${l.id}`, { method: "DELETE" }); await showLabels(api); notice(t("s_saved")); } catch (err) { notice(err.message); }
    });
    const nameCell = el("td"); nameCell.append(chip);
    const colourCell = el("td"); colourCell.append(pick);
    tr.append(nameCell, colourCell, el("td", null, l.description || ""), el("td"));
    tr.lastChild.append(del);
    return tr;
  }));
}

async function save(id, changes) {
  try { await view.api(`/api/labels/${id}`, { method: "PATCH", body: JSON.stringify(changes) }); await showLabels(view.api); notice(t("s_saved")); } catch (err) { notice(err.message); }
}

$("label-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  try {
    await view.api("/api/labels", { method: "POST", body: JSON.stringify({ name: f.elements.name.value.trim(),
      colour: f.elements.colour.value, description: f.elements.description.value.trim() || null }) });
    f.reset(); $("label-error").textContent = "";
    await showLabels(view.api);
    notice(t("s_saved"));
  } catch (err) { $("label-error").textContent = err.message; }
});

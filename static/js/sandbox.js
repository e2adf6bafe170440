// A blank sandbox (a guest of a chosen size, no script), and import of a scenario file
// beside the export link.
import { createSession } from "./api.js";
import { el } from "./dom.js";
import { keepToken } from "./roles.js";

async function postYaml(text) {
  const response = await fetch("/api/sessions", { method: "POST", headers: { "Content-Type": "application/yaml" }, body: text });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const e = data.error || { message: `HTTP ${response.status}` };
    throw Object.assign(new Error(e.message), { field: e.field });
  }
  return keepToken(data);   // the importer presents the new session (roles.js)
}

// open(id): the page's openSession; openImported(created): a created session that may
// carry a position (app.js)
export function installSandbox(topbar, open, showError, openImported = (c) => open(c.id)) {
  const pages = el("input", { type: "number", min: 1, max: 1048576, value: 64, required: true,
                              "data-testid": "sandbox-pages", "aria-label": "guest pages" });
  const layout = el("select", { "data-testid": "sandbox-layout", "aria-label": "guest layout" },
    el("option", { value: "linear" }, "linear"), el("option", { value: "bare" }, "bare"));
  const form = el("form", { class: "sandbox", "data-testid": "sandbox-form",
                            title: "A new session with no script: drive the guest from the console" },
    el("label", {}, "Sandbox ", pages, " pages"), layout,
    el("button", { type: "submit", "data-testid": "sandbox-new" }, "New"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const created = await createSession({ scenario: { name: "sandbox", title: "Sandbox",
        description: "No script: use the hypercall console.",
        guest: { pages: Number(pages.value), layout: layout.value } } });
      await open(created.id);
    } catch (err) {
      showError(`Sandbox refused${err.field ? ` (${err.field})` : ""}: ${err.message}`);
    }
  });
  topbar.querySelector("[data-testid=scenario-form]").after(form);

  const file = el("input", { type: "file", accept: ".yaml,.yml,.json,application/yaml", hidden: true,
                             "data-testid": "import-file" });
  const button = el("button", { type: "button", "data-testid": "import", title: "Open a scenario file (YAML or JSON) as a new session" }, "import");
  button.addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const created = await postYaml(await chosen.text());
      await openImported(created);
    } catch (err) {
      showError(`Could not import ${chosen.name}${err.field ? ` (${err.field})` : ""}: ${err.message}`);
    }
    file.value = "";
  });
  topbar.querySelector("[data-testid=export]").after(button, file);
}

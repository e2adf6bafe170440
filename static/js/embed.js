// Embedded (?embed=1, in a course page's iframe): present mode's grid, narration and step
// controls only, laid out for 480 px and up, with the page's role beside the controls. The
// roles are the link's: an embedded follower link can change nothing.

import { el } from "./dom.js";

export function installEmbed(present, follow) {
  if (new URL(window.location.href).searchParams.get("embed") !== "1") return false;
  document.body.classList.add("embed");
  const role = el("span", { class: "embed-role", "data-testid": "embed-role" });
  present.bar.append(role);
  const show = () => {
    role.textContent = { presenter: "presenter", follower: "following", viewer: "read-only" }[follow.role] || "";
    role.dataset.role = follow.role;
  };
  follow.store.on("load", show);
  queueMicrotask(() => present.toggle(true));
  return true;
}

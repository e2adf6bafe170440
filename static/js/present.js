// Present mode (key P, or ?present=1): only the grid, the narration and a row of controls,
// cells as large as the screen allows. A presentation clicker sends PageDown / PageUp (some
// send arrows or B): forward and back, in present mode and out of it.
import { el } from "./dom.js";

const FORWARD = new Set(["PageDown", "ArrowRight", "ArrowDown", " "]);
const BACKWARD = new Set(["PageUp", "ArrowLeft", "ArrowUp"]);

export class Present {
  // actions: {next(), back(), canBack()}; relayout(): lay the grids out again
  constructor(store, actions, relayout) {
    Object.assign(this, { store, actions, relayout });
    this.on = false;
    this.bar = el("div", { class: "present-bar", "data-testid": "present-bar", role: "toolbar",
                           "aria-label": "Presentation controls" });
    this.title = el("span", { class: "present-title" });
    this.counter = el("span", { class: "present-counter", "data-testid": "present-counter" });
    const button = (label, testid, fn, title) => {
      const b = el("button", { type: "button", "data-testid": testid, title }, label);
      b.addEventListener("click", fn);
      return b;
    };
    this.backButton = button("◀ Back", "present-back", () => this.back(), "Step back (PageUp, ←)");
    this.bar.append(this.title, this.backButton,
      button("Next ▶", "present-next", () => this.actions.next(), "Next step (PageDown, →, space)"),
      this.counter, button("Exit", "present-exit", () => this.toggle(false), "Leave present mode (P, Esc)"));
    document.body.append(this.bar);
    store.on("load", () => this.update());
    store.on("event", () => this.update());
    // Capture phase: in present mode the arrows step through the script instead of moving
    // the selection.
    window.addEventListener("keydown", (e) => this.key(e), true);
    if (new URL(window.location.href).searchParams.get("present") === "1") {
      queueMicrotask(() => this.toggle(true));   // once the page's wiring is done
    }
  }

  back() { if (this.actions.canBack()) this.actions.back(); }

  key(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName)) return;
    let act = null;
    if (e.key === "P") act = () => this.toggle(!this.on);
    else if (e.key === "PageDown" || (this.on && FORWARD.has(e.key))) act = () => this.actions.next();
    else if (e.key === "PageUp" || (this.on && BACKWARD.has(e.key))) act = () => this.back();
    else if (this.on && e.key === "Escape") act = () => this.toggle(false);
    if (!act) return;
    if (this.on && e.key === " " && t instanceof HTMLButtonElement) return;   // a focused button
    e.preventDefault();
    e.stopImmediatePropagation();
    act();
  }

  toggle(on) {
    this.on = on;
    document.body.classList.toggle("present", on);
    const url = new URL(window.location.href);
    if (on) url.searchParams.set("present", "1");
    else url.searchParams.delete("present");
    window.history.replaceState(null, "", url);
    if (on && document.fullscreenEnabled && !document.fullscreenElement) {
      document.documentElement.requestFullscreen().catch(() => {});   // needs a user gesture
    } else if (!on && document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    }
    this.update();
    this.relayout();
  }

  // The room left for the grids: the viewport less the narration and the bar.
  gridHeight() {
    const grids = document.querySelector("[data-testid=grids]");
    const top = grids ? grids.getBoundingClientRect().top + window.scrollY : 0;
    const caption = 8;   // the figure's caption is hidden in present mode
    return Math.max(160, window.innerHeight - top - caption - this.bar.offsetHeight - 16);
  }

  update() {
    if (!this.store.loaded) return;
    const s = this.store;
    this.title.textContent = s.meta.title || s.meta.name || "";
    this.counter.textContent = s.script.length
      ? `step ${Math.min(s.cursor, s.script.length)} / ${s.script.length}` : `seq ${s.seq}`;
    this.backButton.hidden = !this.actions.canBack();
  }
}

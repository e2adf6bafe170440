// Keyboard shortcuts (listed in the help dialog). Ignored while typing in a form field.
export function installShortcuts(actions, help) {
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName))) {
      if (e.key === "Escape") t.blur();
      return;
    }
    const action = {
      n: actions.next, r: actions.runAll, p: actions.pin, u: actions.unpin, w: actions.write,
      m: actions.migrateAll, s: actions.skip, k: actions.pause,
      1: () => actions.view("guest"), 2: () => actions.view("source"),
      3: () => actions.view("destination"), 4: () => actions.view("both"),
      "?": () => (help.open ? help.close() : help.showModal()),
      ArrowLeft: () => actions.move(-1, 0), ArrowRight: () => actions.move(1, 0),
      ArrowUp: () => actions.move(0, -1), ArrowDown: () => actions.move(0, 1),
      Escape: actions.clear,
      ",": actions.back, ".": actions.forward, Home: actions.start, End: actions.end,
      g: actions.jump,   // PageUp / PageDown: present.js (a clicker), back and forward too
    }[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  });
}

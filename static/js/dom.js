// el("tr", {class: "x", "data-testid": "y", title: "z"}, child, "text", ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k.startsWith("aria-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// Scroll `item` into view inside the scrolling `list` only: scrollIntoView() would scroll
// every ancestor, the window too, which moves the grid away from a lecturer stepping.
// Deferred to the next frame and done for every list at once, layout read before any
// scroll is set: reading an item's position right after the list was rebuilt would force
// a layout per list per seek (most of a seek's time in a 10,000-event session).
const pendingScrolls = new Map();   // list -> item to bring into view
let scrollFrame = null;

export function scrollWithin(list, item) {
  if (!list || !item) return;
  pendingScrolls.set(list, item);
  if (scrollFrame === null) scrollFrame = requestAnimationFrame(flushScrolls);
}

// Do the pending scrolls now (the next frame does it otherwise; benchmarks call it).
export function flushScrolls() {
  if (scrollFrame !== null) cancelAnimationFrame(scrollFrame);
  scrollFrame = null;
  const moves = [];
  for (const [list, item] of pendingScrolls) {
    if (!item.isConnected || item.parentElement !== list) continue;
    const top = item.getBoundingClientRect().top - list.getBoundingClientRect().top + list.scrollTop;
    if (top < list.scrollTop) moves.push([list, top]);
    else if (top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      moves.push([list, top + item.offsetHeight - list.clientHeight]);
    }
  }
  pendingScrolls.clear();
  for (const [list, top] of moves) list.scrollTop = top;
}

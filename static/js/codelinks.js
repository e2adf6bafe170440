// Links from a Xen function's name to its definition in xen.git at RELEASE-4.15.0 and
// RELEASE-4.16.0 (GET /api/xen-functions, generated from the Xen tree).
import { el } from "./dom.js";

let table = null;
const loading = fetch("/api/xen-functions").then((r) => r.json()).then((t) => { table = t; })
  .catch(() => { table = { functions: {}, tags: {}, urls: {} }; });

export const codeLinksReady = () => loading;

// "put_page (partial reference)" -> "put_page"; "migration aborted: ..." -> "migration aborted"
export const fnKey = (fn) => fn.split(" (")[0].split(":")[0].trim();

export function codeUrl(fn, version, site = "github") {
  const entry = table && table.functions[fnKey(fn)];
  if (!entry || !entry[version]) return null;
  return table.urls[site].replace("{tag}", table.tags[version])
    .replace("{file}", entry[version].file).replace("{line}", String(entry[version].line));
}

// <code>fn</code> 4.15 4.16: the name, then one link per release (or a note for what is
// not Xen code: the guest's own P2M, a balloon driver...).
export function fnLink(fn) {
  const code = el("code", { class: "fn" }, fn);
  const entry = table && table.functions[fnKey(fn)];
  if (!entry) return code;
  if (entry.not_xen) {
    code.title = entry.not_xen;
    return code;
  }
  const links = ["4.15", "4.16"].map((v) => {
    const where = entry[v];
    return el("a", { class: "code-link", href: codeUrl(fn, v), target: "_blank", rel: "noopener",
                     "data-testid": "code-link", title: `${fnKey(fn)} at ${where.file}:${where.line} (${table.tags[v]})` },
              v);
  });
  return el("span", { class: "fn-link" }, code, " ", links[0], " ", links[1]);
}

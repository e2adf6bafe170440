// Slides: the grid at the moment in view as SVG or PNG, drawn by the server's SVG writer
// (engine/slides.py, the same as `pvframes run --snapshot STEP --svg FILE`).

function slideUrl(store, ui) {
  // One grid per slide: in "both", the selected frame's host (as `pvframes run --svg`).
  const view = ["guest", "source", "destination"].includes(ui.view) ? ui.view
    : (ui.selected ? ui.selected.host : "source");
  const url = new URL(`/api/sessions/${encodeURIComponent(store.sessionId)}/slide.svg`,
                      window.location.origin);
  url.searchParams.set("seq", String(store.seq));
  url.searchParams.set("view", view);
  const sel = ui.selected;
  if (sel) url.searchParams.set("frame", `${sel.host}:${sel.mfn}`);
  return url;
}

function download(href, name) {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
}

export function exportSvg(store, ui) {
  download(slideUrl(store, ui).toString(), `pvframes-${store.sessionId}-${store.seq}.svg`);
}

// The SVG drawn on a canvas at twice its size (sharp on a projector), saved as PNG.
export async function exportPng(store, ui) {
  const text = await fetch(slideUrl(store, ui)).then((r) => {
    if (!r.ok) throw new Error(`slide: HTTP ${r.status}`);
    return r.text();
  });
  const img = new Image();
  img.src = `data:image/svg+xml;base64,${btoa(unescape(encodeURIComponent(text)))}`;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth * 2;
  canvas.height = img.naturalHeight * 2;
  const ctx = canvas.getContext("2d");
  ctx.scale(2, 2);
  ctx.drawImage(img, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const reader = new FileReader();
  const dataUrl = await new Promise((resolve) => {
    reader.onload = () => resolve(reader.result);
    reader.readAsDataURL(blob);
  });
  download(dataUrl, `pvframes-${store.sessionId}-${store.seq}.png`);
  return { width: canvas.width, height: canvas.height };
}

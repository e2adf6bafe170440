// Frame types and their visual cues, shared by the grid, the legend and the inspector.
// Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
// deficiencies); every type also has a letter, so colour is never the only cue.

export const TYPE_STYLE = {
  none:     { colour: "#ffffff", letter: "N",  label: "no type (ordinary page)" },
  writable: { colour: "#56b4e9", letter: "W",  label: "writable (data page)" },
  l1:       { colour: "#009e73", letter: "L1", label: "L1 page table" },
  l2:       { colour: "#e69f00", letter: "L2", label: "L2 page table" },
  l3:       { colour: "#cc79a7", letter: "L3", label: "L3 page table" },
  l4:       { colour: "#0072b2", letter: "L4", label: "L4 page table (root)" },
  seg_desc: { colour: "#f0e442", letter: "D",  label: "segment descriptor page" },
  shared:   { colour: "#d55e00", letter: "S",  label: "shared page" },
};

export const FOREIGN_COLOUR = "#8c8c8c";
export const STALE_COLOUR = "#d55e00";   // vermillion: stale entries, failed steps
export const INK = "#111111";
export const LOST_COLOUR = "#c0001a";   // a page whose final contents a migration lost

// Page-table types: only these can be de-validated (type kept, PGT_validated cleared).
export const PAGE_TABLE_TYPES = new Set(["l1", "l2", "l3", "l4", "seg_desc"]);

export function styleOf(type) {
  return TYPE_STYLE[type] || { colour: "#dddddd", letter: "?", label: type };
}

// Black or white text, whichever reads better on `hex` (WCAG relative luminance).
export function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return lum > 0.22 ? INK : "#ffffff";
}
export const HIGHLIGHT_COLOUR = "#7b2cbf";   // violet: what the narration or a failure names

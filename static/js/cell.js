// Draws one frame as a square cell. Used by the grid and by the legend's swatches, so the
// legend always shows exactly what the grid draws.
import { FOREIGN_COLOUR, INK, LOST_COLOUR, PAGE_TABLE_TYPES, inkOn, styleOf } from "./types.js";

const LETTER_MIN = 20;   // below this many CSS pixels a letter is unreadable on a projector
const LABEL_MIN = 46;    // room for the frame number as well

// How the frame's validation state is drawn: solid, hatched (de-validated), or half.
export function fillKind(frame) {
  if (frame.partial) return "partial";
  if (PAGE_TABLE_TYPES.has(frame.type) && !frame.validated) return "hatched";
  return "solid";
}

function hatch(ctx, x, y, s, colour) {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, y, s, s);
  ctx.clip();
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(x, y, s, s);
  ctx.strokeStyle = colour;
  ctx.lineWidth = Math.max(2, s / 8);
  const step = Math.max(5, s / 4);
  for (let d = -s; d < s * 2; d += step) {
    ctx.beginPath();
    ctx.moveTo(x + d, y + s);
    ctx.lineTo(x + d + s, y);
    ctx.stroke();
  }
  ctx.restore();
}

function fillBody(ctx, x, y, s, frame, colour) {
  const kind = fillKind(frame);
  if (kind === "solid") {
    ctx.fillStyle = colour;
    ctx.fillRect(x, y, s, s);
  } else if (kind === "hatched") {
    hatch(ctx, x, y, s, colour);
  } else {
    hatch(ctx, x, y, s, colour);
    ctx.fillStyle = colour;
    ctx.fillRect(x, y + s / 2, s, s / 2);
  }
  return kind;
}

// A filled triangle in the top right corner of a cell or block of side `s`, `p` long.
export function cornerMark(ctx, x, y, s, p) {
  ctx.fillStyle = INK;
  ctx.beginPath();
  ctx.moveTo(x + s - p, y);
  ctx.lineTo(x + s, y);
  ctx.lineTo(x + s, y + p);
  ctx.closePath();
  ctx.fill();
}

// PTF_partial_set: this partial table's validation stopped inside the table one of its
// slots names, which is left partial too. A downward triangle at the bottom left.
function nestedMark(ctx, x, y, s) {
  const p = Math.max(6, s * 0.34);
  ctx.fillStyle = INK;
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(x + 2, y + s - p - 2);
  ctx.lineTo(x + 2 + p, y + s - p - 2);
  ctx.lineTo(x + 2 + p / 2, y + s - 2);
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
}

function dirtyMark(ctx, x, y, s) {
  const r = Math.max(2.5, s * 0.1);
  ctx.fillStyle = INK;
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.arc(x + s - r - 2, y + s - r - 2, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.stroke();
}

// A page the migration lost (its final contents never arrived): a cross over the cell,
// haloed in white so it reads on every fill.
function lostMark(ctx, x, y, s) {
  const m = Math.max(3, s * 0.16);
  const cross = () => {
    ctx.beginPath();
    ctx.moveTo(x + m, y + m);
    ctx.lineTo(x + s - m, y + s - m);
    ctx.moveTo(x + s - m, y + m);
    ctx.lineTo(x + m, y + s - m);
    ctx.stroke();
  };
  ctx.save();
  ctx.lineCap = "round";
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = Math.max(4, s / 6) + 3;
  cross();
  ctx.strokeStyle = LOST_COLOUR;
  ctx.lineWidth = Math.max(2.5, s / 6);
  cross();
  ctx.restore();
}

// How a page came out of a migration, kept on its cell afterwards (letter and colour). A
// page lost has the lost cross instead.
export const BADGES = {
  localised: { letter: "✓", colour: "#009e73", text: "normalised + localised" },
  raw: { letter: "R", colour: "#d55e00", text: "sent raw" },
};

function badgeMark(ctx, x, y, s, badge) {
  const b = BADGES[badge];
  if (!b || s < 14) return;
  const w = Math.max(10, Math.round(s * 0.36));
  ctx.fillStyle = b.colour;
  ctx.fillRect(x, y + s - w, w, w);
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1;
  ctx.strokeRect(x + 0.5, y + s - w + 0.5, w - 1, w - 1);
  ctx.fillStyle = "#ffffff";
  ctx.font = `700 ${Math.round(w * 0.8)}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(b.letter, x + w / 2, y + s - w / 2 + 1);
}

// Not a page table, yet holding present entries: page-table-shaped contents (Case 2's
// L2 sent raw). A dotted inner frame.
function ptShapedMark(ctx, x, y, s) {
  if (s < 12) return;
  const d = Math.max(3, s * 0.14);
  ctx.save();
  ctx.strokeStyle = INK;
  ctx.lineWidth = 2;
  ctx.setLineDash([3, 3]);
  ctx.strokeRect(x + d, y + d, s - 2 * d, s - 2 * d);
  ctx.restore();
}

function centredText(ctx, text, x, y, s, colour, boxed) {
  const px = Math.round(Math.min(s * 0.42, 26));
  ctx.font = `700 ${px}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  if (boxed) {  // hatching behind a letter: give it a white plate so it stays legible
    const w = ctx.measureText(text).width + 6;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(x + s / 2 - w / 2, y + s / 2 - px / 2 - 2, w, px + 4);
    colour = INK;
  }
  ctx.fillStyle = colour;
  ctx.fillText(text, x + s / 2, y + s / 2 + 1);
}

// frame: {owner, type, validated, pinned, partial, partial_set, base, dirty}; label: frame
// number or "".
export function drawCell(ctx, x, y, s, frame, label = "") {
  ctx.clearRect(x, y, s, s);
  if (frame.owner === "free") {
    ctx.strokeStyle = frame.lost ? LOST_COLOUR : "#c8c8c8";
    ctx.lineWidth = frame.lost ? 2 : 1;
    if (frame.lost) ctx.setLineDash([4, 3]);
    ctx.strokeRect(x + 1, y + 1, s - 2, s - 2);
    ctx.setLineDash([]);
    if (frame.lost) lostMark(ctx, x, y, s);   // a PFN that should be here and is not
    return;
  }
  if (frame.owner !== "guest") {
    ctx.fillStyle = FOREIGN_COLOUR;
    ctx.fillRect(x, y, s, s);
    ctx.fillStyle = INK;
    ctx.beginPath();
    ctx.arc(x + s / 2, y + s / 2, Math.max(1.5, s * 0.12), 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  const style = styleOf(frame.type);
  const kind = fillBody(ctx, x, y, s, frame, style.colour);
  ctx.strokeStyle = frame.lost ? LOST_COLOUR : INK;
  ctx.lineWidth = frame.base ? Math.max(3, s / 10) : frame.lost ? 2 : 1;
  const inset = ctx.lineWidth / 2;
  ctx.strokeRect(x + inset, y + inset, s - 2 * inset, s - 2 * inset);
  if (frame.pinned) cornerMark(ctx, x, y, s, Math.max(6, s * 0.34));
  if (frame.dirty) dirtyMark(ctx, x, y, s);
  if (frame.partial && frame.partial_set) nestedMark(ctx, x, y, s);
  if (s >= LETTER_MIN) {
    centredText(ctx, style.letter, x, y, s, inkOn(style.colour), kind !== "solid");
  }
  if (frame.ptShaped) ptShapedMark(ctx, x, y, s);
  if (frame.badge) badgeMark(ctx, x, y, s, frame.badge);
  if (frame.lost) lostMark(ctx, x, y, s);   // an older copy, or an empty frame: on top
  if (label !== "" && s >= LABEL_MIN) {
    ctx.font = `600 ${Math.round(s * 0.22)}px system-ui, sans-serif`;
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillStyle = kind === "solid" ? inkOn(style.colour) : INK;
    ctx.fillText(String(label), x + 4, y + 3);
  }
}

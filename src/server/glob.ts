import { InvalidConfigError } from '../../primitives/errors.js';
import { MAX_GLOB_PATTERN_LENGTH } from '../config/schema.js';

/**
 * Shell-style globs for policy rules — `*` any run of characters, `?` one, everything else literal,
 * anchored at both ends — matched without backtracking.
 *
 * They run on workflow ids read from payload metadata before the payload is authenticated, so a
 * caller chooses the text. A RegExp (`^tenant-.*-.*-prod$`) backtracks: 1,000 such ids took 4.1 s
 * (issue 15). This matcher splits the pattern at its stars and places each piece at its leftmost
 * fit after the previous one. Leftmost is always safe: a star absorbs whatever lies between, so an
 * earlier fit never rules out a match a later fit would allow. The first piece is pinned to the
 * start, the last to the end. Pieces without `?` are found with Knuth-Morris-Pratt, so a pattern
 * without `?` costs at most 2 × id + pattern + 1 steps; a piece with `?` is tried at each position,
 * and any pattern costs at most (id + 1) × (pattern + 1) steps (with the caps below, 263,425).
 *
 * Characters are UTF-16 code units, as the RegExp it replaces counted them (no `u` flag).
 */

/** Longest pattern a rule may hold: the config validator says so by field, the matcher refuses. */
export { MAX_GLOB_PATTERN_LENGTH };
/**
 * Longest text matched; longer text matches nothing. Sealed workflow ids and namespaces are at
 * most 1,024 UTF-8 bytes (docs/wire-format.md), so no legitimate id is this long in code units.
 */
export const MAX_GLOB_TEXT_LENGTH = 1024;

/** Counts matcher work, for tests and benchmarks; optional everywhere. */
export interface StepMeter {
  steps: number;
}

const QUESTION = '?'.charCodeAt(0);

export class Glob {
  /** The pattern cut at its stars; empty pieces (from `**` or an edge star) kept for the anchors. */
  private readonly pieces: readonly string[];
  /** KMP failure table per middle piece without `?`; undefined for pieces searched position by position. */
  private readonly tables: readonly (Int32Array | undefined)[];

  constructor(readonly pattern: string) {
    if (pattern.length > MAX_GLOB_PATTERN_LENGTH) {
      throw new InvalidConfigError(`glob pattern expected at most ${MAX_GLOB_PATTERN_LENGTH} characters, got ${pattern.length}`);
    }
    this.pieces = pattern.split('*');
    this.tables = this.pieces.map((piece, i) => (i > 0 && i < this.pieces.length - 1 && piece.length > 0 && !piece.includes('?') ? failureTable(piece) : undefined));
  }

  test(text: string, meter?: StepMeter): boolean {
    const counter = { steps: 0 };
    const matched = this.match(text, counter);
    if (meter) meter.steps += counter.steps;
    return matched;
  }

  private match(text: string, counter: StepMeter): boolean {
    counter.steps++;
    if (text.length > MAX_GLOB_TEXT_LENGTH) return false;
    const pieces = this.pieces;
    const first = pieces[0]!;
    if (pieces.length === 1) return text.length === first.length && fitsAt(first, text, 0, counter);
    const last = pieces[pieces.length - 1]!;
    const end = text.length - last.length;
    if (end < first.length) return false;
    if (!fitsAt(first, text, 0, counter) || !fitsAt(last, text, end, counter)) return false;
    let from = first.length;
    for (let i = 1; i < pieces.length - 1; i++) {
      const piece = pieces[i]!;
      if (piece.length === 0) continue;
      const table = this.tables[i];
      const at = table ? leftmostOccurrence(piece, table, text, from, end, counter) : leftmostFit(piece, text, from, end, counter);
      if (at < 0) return false;
      from = at + piece.length;
    }
    return true;
  }
}

/** A compiled glob; `glob(p).test(id)` reads as the RegExp it replaces did. */
export function glob(pattern: string): Glob {
  return new Glob(pattern);
}

/** Does `piece` (with `?` for any one unit) match `text` at `at`? One step per unit compared. */
function fitsAt(piece: string, text: string, at: number, counter: StepMeter): boolean {
  for (let i = 0; i < piece.length; i++) {
    counter.steps++;
    const c = piece.charCodeAt(i);
    if (c !== QUESTION && c !== text.charCodeAt(at + i)) return false;
  }
  return true;
}

/** First position in [from, end - piece.length] where `piece` fits, or -1. */
function leftmostFit(piece: string, text: string, from: number, end: number, counter: StepMeter): number {
  for (let at = from; at + piece.length <= end; at++) {
    counter.steps++;
    if (fitsAt(piece, text, at, counter)) return at;
  }
  return -1;
}

/** Knuth-Morris-Pratt: table[j] is the length of the longest proper border of piece[0..j]. */
function failureTable(piece: string): Int32Array {
  const table = new Int32Array(piece.length);
  for (let i = 1, k = 0; i < piece.length; i++) {
    while (k > 0 && piece.charCodeAt(i) !== piece.charCodeAt(k)) k = table[k - 1]!;
    if (piece.charCodeAt(i) === piece.charCodeAt(k)) k++;
    table[i] = k;
  }
  return table;
}

/**
 * First occurrence of a literal piece within text[from, end), or -1. Each step either reads a new
 * text unit or shortens the partial match, so at most 2 × (end - from) steps.
 */
function leftmostOccurrence(piece: string, table: Int32Array, text: string, from: number, end: number, counter: StepMeter): number {
  let k = 0;
  for (let i = from; i < end; i++) {
    counter.steps++;
    const c = text.charCodeAt(i);
    while (k > 0 && c !== piece.charCodeAt(k)) {
      counter.steps++;
      k = table[k - 1]!;
    }
    if (c === piece.charCodeAt(k)) k++;
    if (k === piece.length) return i - piece.length + 1;
  }
  return -1;
}

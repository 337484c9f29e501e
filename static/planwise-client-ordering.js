// Update ordering (part of static/planwise-client.js, see docs/client.md): updates are ordered by
// (revision, version, stage), then `step`, and only ones newer than every update emitted before go
// out. `step` counts the enriched updates of one (revision, version) after the first: a push from
// another service (POST /api/enrichments) comes as a new enriched update with a higher step.

/** Stage order inside one (revision, version): `rules` before `enriched`. */
export const STAGES = Object.freeze({ rules: 0, enriched: 1 });

/** The rank of a stage; an unknown (future) stage sorts after the known ones. */
export function stageRank(stage) {
  return Object.prototype.hasOwnProperty.call(STAGES, stage) ? STAGES[stage] : Object.keys(STAGES).length;
}

/** The step of an update: 0 when absent (the first update of its stage). */
function stepOf(update) {
  return update.step === undefined || update.step === null ? 0 : Number(update.step);
}

/** The order key of an update: [revision, version, stage rank, step]. */
export function updateKey(update) {
  return [Number(update.revision), Number(update.version), stageRank(update.stage), stepOf(update)];
}

/** -1, 0 or 1 comparing two order keys lexicographically (a missing step is 0). */
export function compareKeys(a, b) {
  for (let i = 0; i < 4; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** -1, 0 or 1 comparing two updates by (revision, version, stage, step). */
export function compareUpdates(a, b) {
  return compareKeys(updateKey(a), updateKey(b));
}

/** Lets through only updates newer than every one let through before (per session). */
export class UpdateOrdering {
  constructor() {
    this.last = null;
  }

  /** True (and remembered) when `update` is newer than the last accepted one. */
  accept(update) {
    const key = updateKey(update);
    if (key.some((n) => !Number.isFinite(n)) || !Number.isInteger(key[3]) || key[3] < 0) return false;
    if (this.last !== null && compareKeys(key, this.last) <= 0) return false;
    this.last = key;
    return true;
  }

  /**
   * The long-poll cursor (`after`, `version`, `stage`, and `step` for an enriched one) for the last
   * accepted update: the server answers with the first update after it, a later push included.
   */
  cursor() {
    if (this.last === null) return { after: -1, version: 0, stage: "rules" };
    const stage = Object.keys(STAGES).find((s) => STAGES[s] === this.last[2]) ?? "enriched";
    const cursor = { after: this.last[0], version: this.last[1], stage };
    if (stage === "enriched") cursor.step = this.last[3];
    return cursor;
  }

  reset() {
    this.last = null;
  }
}

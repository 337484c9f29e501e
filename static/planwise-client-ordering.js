// Update ordering (part of static/planwise-client.js, see docs/client.md): updates are ordered by
// (revision, version, stage) and only ones newer than every update emitted before go out.

/** Stage order inside one (revision, version): `rules` before `enriched`. */
export const STAGES = Object.freeze({ rules: 0, enriched: 1 });

/** The rank of a stage; an unknown (future) stage sorts after the known ones. */
export function stageRank(stage) {
  return Object.prototype.hasOwnProperty.call(STAGES, stage) ? STAGES[stage] : Object.keys(STAGES).length;
}

/** The order key of an update: [revision, version, stage rank]. */
export function updateKey(update) {
  return [Number(update.revision), Number(update.version), stageRank(update.stage)];
}

/** -1, 0 or 1 comparing two order keys lexicographically. */
export function compareKeys(a, b) {
  for (let i = 0; i < 3; i += 1) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/** -1, 0 or 1 comparing two updates by (revision, version, stage). */
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
    if (key.some((n) => !Number.isFinite(n))) return false;
    if (this.last !== null && compareKeys(key, this.last) <= 0) return false;
    this.last = key;
    return true;
  }

  /** The long-poll cursor (`after`, `version`, `stage`) for the last accepted update. */
  cursor() {
    if (this.last === null) return { after: -1, version: 0, stage: "rules" };
    const stage = Object.keys(STAGES).find((s) => STAGES[s] === this.last[2]) ?? "enriched";
    return { after: this.last[0], version: this.last[1], stage };
  }

  reset() {
    this.last = null;
  }
}

// Reconnection timing and the fallback decision (part of static/planwise-client.js, see
// docs/client.md "Reconnection" and "Fallback"). Pure functions; the channels use them.

export const DEFAULT_BACKOFF = Object.freeze({ baseMs: 500, maxMs: 30000, factor: 2, jitter: 0.5 });
export const DEFAULT_PROBE_BACKOFF = Object.freeze({ baseMs: 2000, maxMs: 60000, factor: 2, jitter: 0.5 });

/**
 * When to give up on the WebSocket and use HTTP: after `openFailures` attempts in a row that
 * never opened (blocked upgrade, refused), or `drops` connections in a row that opened but died
 * before `healthyAfterMs` (a proxy that kills upgraded connections).
 */
export const DEFAULT_POLICY = Object.freeze({ openFailures: 2, drops: 3, healthyAfterMs: 15000 });

/**
 * Delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (a random point in the upper `jitter` share of the step, so it is never near zero and
 * clients that failed together do not retry together).
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const { baseMs, maxMs, factor, jitter } = { ...DEFAULT_BACKOFF, ...options };
  const step = Math.min(maxMs, baseMs * factor ** Math.max(0, attempt));
  const floor = step * (1 - Math.min(1, Math.max(0, jitter)));
  return Math.round(floor + random() * (step - floor));
}

/**
 * The fallback decision after a WebSocket ended. `health` counts failures in a row; `outcome`
 * is `{opened, livedMs}`. Returns the new health and whether to switch to HTTP.
 */
export function assessSocketEnd(health, outcome, policy = DEFAULT_POLICY) {
  const p = { ...DEFAULT_POLICY, ...policy };
  const h = { openFailures: 0, drops: 0, ...health };
  if (!outcome.opened) {
    h.openFailures += 1;
  } else if ((outcome.livedMs ?? 0) < p.healthyAfterMs) {
    h.openFailures = 0;
    h.drops += 1;
  } else {
    h.openFailures = 0;
    h.drops = 0;
  }
  const fallback = h.openFailures >= p.openFailures || h.drops >= p.drops;
  return { health: h, fallback, healthy: h.openFailures === 0 && h.drops === 0 };
}

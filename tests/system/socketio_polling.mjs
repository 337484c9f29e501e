// socket.io-client over long-polling only, through nginx (driven by tests/system/test_socketio_sticky.py).
//
//   node tests/system/socketio_polling.mjs <nginx url> <ca file> sticky
//     connects, answers over the socket, then changes the session through the HTTP API (each
//     request may reach any server: round robin) and waits for every change as an update on the
//     socket; prints one JSON line: {sessionId, transport, connects, disconnects, revisions}.
//   node tests/system/socketio_polling.mjs <nginx url> <ca file> plain <seconds>
//     tries to connect for that long and prints what happened: {connects, sessions, errors}.
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

import { io } from "socket.io-client";

const [url, caFile, mode, seconds] = process.argv.slice(2);
const ca = readFileSync(caFile);
const socket = io(url, {
  transports: ["polling"],
  ca, // nginx's throwaway certificate (engine.io-client passes it to its Node XHR)
  reconnectionDelay: 100,
  reconnectionDelayMax: 300,
  timeout: 5000,
});
const seen = { connects: 0, disconnects: 0, sessions: [], updates: [], errors: [] };
socket.on("connect", () => (seen.connects += 1));
socket.on("disconnect", (reason) => ((seen.disconnects += 1), seen.errors.push(`disconnect: ${reason}`)));
socket.on("connect_error", (err) => seen.errors.push(`connect_error: ${err.message}`));
socket.io.on("error", (err) => seen.errors.push(`manager error: ${err.message}`));
socket.on("session", (session) => seen.sessions.push(session));
socket.on("recommendationUpdates", (plans, update) => {
  assert.deepEqual(plans, update.plans, "the first argument is the plans");
  seen.updates.push(update);
});

function until(check, what, timeout = 20_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (check()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeout) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(seen.errors.slice(-5))}`));
      }
    }, 20);
  });
}

const hasRules = (revision) => () => seen.updates.some((u) => u.revision === revision && u.stage === "rules");

try {
  if (mode === "plain") {
    await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
    console.log(JSON.stringify({ connects: seen.connects, sessions: seen.sessions.length, errors: seen.errors }));
  } else {
    await until(() => seen.updates.length > 0, "the opening update");
    const session = seen.sessions[0];
    const applied = await socket.timeout(10_000).emitWithAck("userResponse", { budget: 20 });
    assert.equal(applied.revision, 1, JSON.stringify(applied));
    await until(hasRules(1), "the update of the socket's own answer");
    // Changes made through the HTTP API, round robin over every server: each one reaches this
    // socket, held by one server, through PostgreSQL.
    for (let revision = 2; revision <= 7; revision += 1) {
      const reply = await fetch(`${url}/api/sessions/${session.sessionId}/responses`, {
        method: "POST",
        headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ answers: { budget: 20 + revision } }),
      });
      assert.equal(reply.status, 200, await reply.text());
      await until(hasRules(revision), `the update of revision ${revision}`);
    }
    const revisions = [...new Set(seen.updates.filter((u) => u.stage === "rules").map((u) => u.revision))];
    console.log(
      JSON.stringify({
        sessionId: session.sessionId,
        transport: socket.io.engine.transport.name,
        connects: seen.connects,
        disconnects: seen.disconnects,
        revisions,
        answers: seen.updates.at(-1).answers,
      }),
    );
  }
  socket.close();
} catch (error) {
  console.error(error);
  socket.close();
  process.exit(1);
}

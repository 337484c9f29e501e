// One socket.io-client socket across a server restart (driven by tests/js/test_socketio_node.py):
// the front end keeps `auth.token` from the `session` event, socket.io-client reconnects by itself
// and the session resumes where it was. Prints "ready" when the server may be restarted.
import assert from "node:assert/strict";

import { io } from "socket.io-client";

const [url, transport] = process.argv.slice(2);
const socket = io(url, { transports: [transport], reconnectionDelay: 100, reconnectionDelayMax: 500 });
const sessions = [];
const updates = [];
socket.on("session", (session) => {
  sessions.push(session);
  socket.auth = { token: session.token }; // resume this session on every reconnection
});
socket.on("recommendationUpdates", (plans, update) => updates.push(update));

function until(check, what, timeout = 60_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (check()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeout) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 20);
  });
}

try {
  await until(() => updates.length > 0, "the opening update");
  const applied = await socket.timeout(10_000).emitWithAck("userResponse", { budget: 20, dataUsage: "medium" });
  assert.equal(applied.revision, 1);
  let disconnected = false;
  socket.on("disconnect", () => {
    disconnected = true;
  });
  console.log("ready");
  await until(() => disconnected && sessions.length >= 2, "a reconnection after the restart");
  const resumed = sessions.at(-1);
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.sessionId, sessions[0].sessionId);
  assert.equal(resumed.revision, 1);
  await until(() => updates.at(-1).answers.budget === 20 && updates.length > 2, "the resumed update");
  const next = await socket.timeout(10_000).emitWithAck("userResponse", { budget: 25 });
  assert.equal(next.revision, 2, "answers continue on the resumed session");
  assert.deepEqual(next.answers, { budget: 25, dataUsage: "medium" });
  console.log("resumed");
  socket.close();
} catch (error) {
  console.error(error);
  socket.close();
  process.exit(1);
}

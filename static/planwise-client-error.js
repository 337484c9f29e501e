// The error type of the Planwise client (part of static/planwise-client.js, see docs/client.md).

/** An error reported by the server (or by the client for a closed client), with the protocol code. */
export class PlanwiseError extends Error {
  constructor({ code = "internal", message = "", details, replyTo, status } = {}) {
    super(message || code);
    this.name = "PlanwiseError";
    this.code = code;
    if (details !== undefined) this.details = details;
    if (replyTo !== undefined) this.replyTo = replyTo;
    if (status !== undefined) this.status = status;
  }
}

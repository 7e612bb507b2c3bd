// Serves an Inngest SDK's functions with Express at /api/inngest on 127.0.0.1:$PORT (the tests pick a free port).
//
// Two test aids around the unmodified SDK: OMIT_FUNCTIONS (comma-separated function ids) leaves functions out,
// so a test can re-sync the app without one; and every Call Request is logged as one line
// `call-request {"fnId":…,"stepId":…,"run_id":…,"attempt":…,"disable_immediate_execution":…}`, so a test can
// check what the server asked for, which the function itself cannot see.
"use strict";

const express = require("express");

function omitted(functions) {
  const ids = new Set((process.env.OMIT_FUNCTIONS || "").split(",").filter(Boolean));
  return functions.filter((fn) => !ids.has(fn.id()));
}

function logCallRequests(req, res, next) {
  if (req.method === "POST" && req.query.fnId) {
    const ctx = (req.body && req.body.ctx) || {};
    console.log(`call-request ${JSON.stringify({
      fnId: req.query.fnId,
      stepId: req.query.stepId,
      run_id: ctx.run_id,
      attempt: ctx.attempt,
      disable_immediate_execution: ctx.disable_immediate_execution,
    })}`);
  }
  next();
}

function listen(serve, client, functions) {
  const port = Number(process.env.PORT || 3000);
  const served = omitted(functions);
  const app = express();
  // The Inngest Express adapter reads the parsed body; Call Requests carry the whole memo.
  app.use(express.json({ limit: "10mb" }));
  app.use("/api/inngest", logCallRequests, serve({ client, functions: served }));
  return app.listen(port, "127.0.0.1", () => {
    console.log(`${client.id} serving ${served.length} functions on http://127.0.0.1:${port}/api/inngest`);
  });
}

module.exports = { listen };

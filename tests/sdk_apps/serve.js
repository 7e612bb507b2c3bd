// Serves an Inngest SDK's functions with Express at /api/inngest on 127.0.0.1:$PORT (the tests pick a free port).
"use strict";

const express = require("express");

function listen(serve, client, functions) {
  const port = Number(process.env.PORT || 3000);
  const app = express();
  // The Inngest Express adapter reads the parsed body; Call Requests carry the whole memo.
  app.use(express.json({ limit: "10mb" }));
  app.use("/api/inngest", serve({ client, functions }));
  return app.listen(port, "127.0.0.1", () => {
    console.log(`${client.id} serving ${functions.length} functions on http://127.0.0.1:${port}/api/inngest`);
  });
}

module.exports = { listen };

// The reference document's example (shared/reference/step-invoke.md) on npm inngest@3 (3.54.2): the two
// functions below are its TypeScript code VERBATIM (it has no type annotations, so it is plain JavaScript as
// written, comments included), with the 3-argument createFunction of the 3.x SDK. Do not edit them.
// Around them: the Inngest client, the protocol document's probe functions and an Express server.
//
// Env: PORT (required by the tests), APP_ID (default "ts-app"), and the SDK's own INNGEST_DEV /
// INNGEST_BASE_URL / INNGEST_SIGNING_KEY / INNGEST_EVENT_KEY, read by the SDK itself.
"use strict";

const { Inngest, NonRetriableError, RetryAfterError, referenceFunction } = require("inngest3");
const { serve } = require("inngest3/express");
const { probes } = require("../probes");
const { listen } = require("../serve");

const inngest = new Inngest({ id: process.env.APP_ID || "ts-app" });

// ---- verbatim from the reference document ----
// Some function we'll call
const computeSquare = inngest.createFunction(
  { id: "compute-square" },
  { event: "calculate/square" },
  async ({ event }) => {
    return { result: event.data.number * event.data.number }; // Result typed as { result: number }
  }
);

// In this function, we'll call `computeSquare`
const mainFunction = inngest.createFunction(
  { id: "main-function" },
  { event: "main/event" },
  async ({ step }) => {
    const square = await step.invoke("compute-square-value", {
      function: computeSquare,
      data: { number: 4 }, // input data is typed, requiring input if it's needed
    });

    return `Square of 4 is ${square.result}.`; // square.result is typed as number
  }
);
// ---- end of the verbatim part ----

const probeFunctions = probes({
  define: (id, event, options, handler) => inngest.createFunction({ id, ...options }, { event }, handler),
  sdk: { NonRetriableError, RetryAfterError, referenceFunction },
});

listen(serve, inngest, [computeSquare, mainFunction, ...probeFunctions]);

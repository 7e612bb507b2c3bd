// The reference document's example (shared/reference/step-invoke.md) in the form of npm inngest@4 (4.24.0),
// whose createFunction takes two arguments (the trigger moves into the options as `triggers`; the 3.x
// three-argument call throws in 4.x). Otherwise the same code as js3/app.js, with the same probe functions.
//
// Env: PORT (required by the tests), APP_ID (default "ts-app"), and the SDK's own INNGEST_DEV /
// INNGEST_BASE_URL / INNGEST_SIGNING_KEY / INNGEST_EVENT_KEY, read by the SDK itself.
"use strict";

const { Inngest, NonRetriableError, RetryAfterError, referenceFunction } = require("inngest4");
const { serve } = require("inngest4/express");
const { probes } = require("../probes");
const { listen } = require("../serve");

const inngest = new Inngest({ id: process.env.APP_ID || "ts-app" });

// Some function we'll call
const computeSquare = inngest.createFunction(
  { id: "compute-square", triggers: [{ event: "calculate/square" }] },
  async ({ event }) => {
    return { result: event.data.number * event.data.number }; // Result typed as { result: number }
  }
);

// In this function, we'll call `computeSquare`
const mainFunction = inngest.createFunction(
  { id: "main-function", triggers: [{ event: "main/event" }] },
  async ({ step }) => {
    const square = await step.invoke("compute-square-value", {
      function: computeSquare,
      data: { number: 4 }, // input data is typed, requiring input if it's needed
    });

    return `Square of 4 is ${square.result}.`; // square.result is typed as number
  }
);

const probeFunctions = probes({
  define: (id, event, options, handler) => inngest.createFunction({ id, ...options, triggers: [{ event }] }, handler),
  sdk: { NonRetriableError, RetryAfterError, referenceFunction },
});

listen(serve, inngest, [computeSquare, mainFunction, ...probeFunctions]);

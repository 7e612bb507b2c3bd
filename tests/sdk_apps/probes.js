// The probe functions of the protocol document (docs: tests/sdk_apps/README.md), shared by the inngest@3 and
// inngest@4 apps so that both SDK majors run exactly the same code. `define(id, event, options, handler)`
// hides the one difference between the majors: how a function names its trigger.
// The Python app (py/pyapp/functions.py) carries the same probes with the same ids, triggers and results.
"use strict";

const fs = require("fs");

const RUNTIME = "inngest-js";
// How long probe-concurrency's step holds its concurrency slot: long enough for runs to overlap if unlimited.
const HOLD_MS = 400;

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Date.now() / 1000; // seconds, as the Python app's time.time()

function probes({ define, sdk }) {
  const { NonRetriableError, RetryAfterError, referenceFunction } = sdk;

  const probeSlow = define("probe-slow", "probe/slow", {}, async ({ step }) => {
    await step.sleep("nap", "3s");
    return "slow done";
  });

  const probeLeafFails = define("probe-leaf-fails", "probe/leaf-fails", {}, async () => {
    throw new NonRetriableError("leaf broke");
  });

  // Fails (not retriable) until the file at event.data.path exists: the operator's retry modes are tested on it.
  const probeFixable = define("probe-fixable", "probe/fixable", { retries: 0 }, async ({ event, step }) => {
    return await step.run("check", () => {
      if (!fs.existsSync(event.data.path)) {
        throw new NonRetriableError("not fixed yet");
      }
      return `fixed: ${fs.readFileSync(event.data.path, "utf8")}`;
    });
  });

  // Concurrency 1 per event.data.key: its one step holds the slot a moment and reports when it ran.
  const probeConcurrency = define("probe-concurrency", "probe/concurrency",
    { concurrency: { limit: 1, key: "event.data.key" } },
    async ({ event, step }) => {
      return await step.run("hold", async () => {
        const start = now();
        await pause(HOLD_MS);
        return { key: event.data.key, start, end: now() };
      });
    });

  return [
    define("probe-step-run", "probe/step-run", {}, async ({ step }) => {
      const first = await step.run("first", () => "A");
      const second = await step.run("second", () => "B");
      return [first, second];
    }),

    define("probe-parallel", "probe/parallel", {}, async ({ step }) => {
      const both = await Promise.all([step.run("p1", () => "P1"), step.run("p2", () => "P2")]);
      return both;
    }),

    define("probe-sleep", "probe/sleep", {}, async ({ step }) => {
      await step.sleep("nap", "1s");
      return await step.run("after-nap", () => "slept");
    }),

    define("probe-wait", "probe/wait", {}, async ({ step }) => {
      const matched = await step.waitForEvent("wait-ok", {
        event: "probe/continue",
        if: "async.data.id == event.data.id",
        timeout: "30s",
      });
      return matched ? matched.data : null;
    }),

    define("probe-wait-timeout", "probe/wait-timeout", {}, async ({ step }) => {
      const matched = await step.waitForEvent("wait-short", { event: "probe/never", timeout: "1s" });
      return matched === null ? "timed out" : matched.data;
    }),

    // Cancelled by a `probe/cancel` event whose data.id matches (CEL `if`), while it sleeps.
    define("probe-cancel-on", "probe/cancel-on",
      { cancelOn: [{ event: "probe/cancel", if: "async.data.id == event.data.id" }] },
      async ({ step }) => {
        await step.sleep("long-nap", "60s");
        return "not cancelled";
      }),

    define("probe-send", "probe/send", {}, async ({ step }) => {
      const sent = await step.sendEvent("send", { name: "probe/sent", data: { from: RUNTIME } });
      return sent.ids;
    }),

    define("probe-retry", "probe/retry", {}, async ({ step, attempt }) => {
      return await step.run("flaky", () => {
        if (attempt === 0) {
          throw new Error("first attempt fails");
        }
        return `ok on attempt ${attempt}`;
      });
    }),

    define("probe-step-failed", "probe/step-failed", { retries: 1 }, async ({ step }) => {
      await step.run("always-fails", () => {
        throw new Error("always fails");
      });
      return "unreachable";
    }),

    define("probe-nonretriable", "probe/nonretriable", {}, async ({ step }) => {
      await step.run("refuse", () => {
        throw new NonRetriableError("nope");
      });
      return "unreachable";
    }),

    // Thrown by the function body (not inside a step): both SDKs then answer the Call Request itself with a
    // retriable error and a Retry-After header (inngest-py lifts it out of a step anyway).
    define("probe-retry-after", "probe/retry-after", {}, async ({ attempt }) => {
      if (attempt === 0) {
        throw new RetryAfterError("come back in a second", "1s");
      }
      return `retried after, attempt ${attempt}`;
    }),

    define("probe-invoke-missing", "probe/invoke-missing", {}, async ({ step }) => {
      try {
        await step.invoke("invoke-missing", {
          function: referenceFunction({ appId: "nope", functionId: "missing" }),
          data: {},
        });
        return "unreachable";
      } catch (err) {
        return { caught: err.message };
      }
    }),

    define("probe-invoke-timeout", "probe/invoke-timeout", {}, async ({ step }) => {
      try {
        await step.invoke("invoke-slow", { function: probeSlow, data: {}, timeout: "1s" });
        return "unreachable";
      } catch (err) {
        return { name: err.name, message: err.message };
      }
    }),

    probeSlow,

    // A parent that waits on a slow child (no timeout): cancelling it with its descendants is tested on it.
    define("probe-invoke-slow", "probe/invoke-slow", {}, async ({ step }) => {
      return await step.invoke("invoke-slow", { function: probeSlow, data: {} });
    }),

    define("probe-invoke-native", "probe/invoke-native", {}, async ({ step }) => {
      return await step.invoke("invoke-native", {
        function: referenceFunction({ appId: "native-app", functionId: "native-square" }),
        data: { number: 5 },
      });
    }),

    define("probe-invoke-py", "probe/invoke-py", {}, async ({ step }) => {
      // TS -> inngest-py: the Python app's compute-square, by reference (another app, another runtime).
      return await step.invoke("invoke-py", {
        function: referenceFunction({ appId: "py-app", functionId: "compute-square" }),
        data: { number: 8 },
      });
    }),

    probeLeafFails,

    define("probe-chain", "probe/chain", {}, async ({ step }) => {
      return await step.invoke("invoke-leaf", { function: probeLeafFails, data: {} });
    }),

    probeFixable,

    define("probe-fix-parent", "probe/fix-parent", {}, async ({ event, step }) => {
      return await step.invoke("invoke-fixable", { function: probeFixable, data: { path: event.data.path } });
    }),

    probeConcurrency,

    // Two children of probe-concurrency with the same key, invoked at once: their own limit serialises them.
    define("probe-invoke-concurrency", "probe/invoke-concurrency", {}, async ({ event, step }) => {
      const data = { key: event.data.key };
      return await Promise.all([
        step.invoke("hold-1", { function: probeConcurrency, data }),
        step.invoke("hold-2", { function: probeConcurrency, data }),
      ]);
    }),

    define("probe-rate-limit", "probe/rate-limit", { rateLimit: { limit: 1, period: "1m", key: "event.data.key" } },
      async ({ event }) => event.data.key),

    // Two parallel steps: `flaky` fails on attempt 0 only. Each execution appends a line to event.data.path.
    define("probe-parallel-flaky", "probe/parallel-flaky", {}, async ({ event, step, attempt }) => {
      const path = event.data.path;
      return await Promise.all([
        step.run("steady", () => {
          fs.appendFileSync(path, "steady\n");
          return "S";
        }),
        step.run("flaky", () => {
          fs.appendFileSync(path, `flaky ${attempt}\n`);
          if (attempt === 0) {
            throw new Error("flaky fails once");
          }
          return `flaky ok on attempt ${attempt}`;
        }),
      ]);
    }),

    // Two parallel steps: `broken` always fails (retries: 1, so twice). Each execution appends a line.
    define("probe-parallel-broken", "probe/parallel-broken", { retries: 1 }, async ({ event, step }) => {
      const path = event.data.path;
      await Promise.all([
        step.run("steady", () => {
          fs.appendFileSync(path, "steady\n");
          return "S";
        }),
        step.run("broken", () => {
          fs.appendFileSync(path, "broken\n");
          throw new Error("broken for good");
        }),
      ]);
      return "unreachable";
    }),

    // Parallel steps, then a sleep, then a new step: after the sleep the server must still disable immediate
    // execution (protocol document section 7), which the call log shows (serve.js).
    define("probe-parallel-sleep", "probe/parallel-sleep", {}, async ({ step }) => {
      await Promise.all([step.run("p1", () => "P1"), step.run("p2", () => "P2")]);
      await step.sleep("nap", "1s");
      return await step.run("after-nap", () => "after");
    }),

    // RetryAfterError thrown inside a step on attempt 0; each attempt appends its instant to event.data.path.
    define("probe-step-retry-after", "probe/step-retry-after", {}, async ({ event, step, attempt }) => {
      return await step.run("patient", () => {
        fs.appendFileSync(event.data.path, `${now()}\n`);
        if (attempt === 0) {
          throw new RetryAfterError("come back in a second", "1s");
        }
        return `patient on attempt ${attempt}`;
      });
    }),

    define("probe-invoke-native-fails", "probe/invoke-native-fails", {}, async ({ step }) => {
      return await step.invoke("invoke-native-fails", {
        function: referenceFunction({ appId: "native-app", functionId: "native-fails" }),
        data: {},
      });
    }),

    define("probe-long", "probe/long", {}, async ({ step }) => {
      return await step.run("long-step", async () => {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        return "long done";
      });
    }),
  ];
}

module.exports = { probes, RUNTIME };

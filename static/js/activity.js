/* Functions and Events pages: they are snapshots, so the live socket only says that something changed and
 * offers a refresh (no surprise re-ordering under the operator's cursor). */
"use strict";
(function () {
  const note = document.getElementById("activity-note");
  let changes = 0;
  window.Tributary.live("ws/runs/", {
    onDeltas: (deltas) => {
      changes += deltas.length;
      if (!note) return;
      note.hidden = false;
      note.querySelector(".count").textContent = `${changes} run change${changes === 1 ? "" : "s"} since this page loaded`;
    },
  });
})();

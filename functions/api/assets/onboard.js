// The onboarding page's few behaviours: the stack's region, copying the
// external ID, and checking the connection (by itself after Launch Stack).
// No inline script, no other origin: the page's Content-Security-Policy
// admits this file only. Without script the page still works: the check
// is a form that posts and shows the page again with the result.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main[data-base]");
  if (!main) return;
  const base = main.dataset.base;

  // The region picker points the Launch Stack link at its region.
  const region = document.getElementById("region");
  const launch = document.getElementById("launch");
  if (region && launch) {
    const placeRegion = () => {
      launch.href = launch.dataset.console.replace(
        "/cloudformation/home#",
        "/cloudformation/home?region=" + encodeURIComponent(region.value) + "#"
      );
    };
    region.addEventListener("change", placeRegion);
    placeRegion();
  }

  const externalId = document.getElementById("external-id");
  const copied = document.getElementById("copied");
  const copy = document.getElementById("copy");
  if (externalId && copied && copy) {
    copy.addEventListener("click", async () => {
      const selection = window.getSelection();
      selection.selectAllChildren(externalId);
      try {
        await navigator.clipboard.writeText(externalId.textContent);
        copied.textContent = "Copied.";
      } catch (_) {
        copied.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
      }
    });
  }

  const form = document.getElementById("check-form");
  const check = document.getElementById("check");
  const result = document.getElementById("result");
  const verified = document.getElementById("verified");
  const wait = document.getElementById("wait");
  if (!form || !check || !result) return;
  const line = (text, className) => {
    const p = document.createElement("p");
    if (className) p.className = className;
    p.textContent = text;
    return p;
  };
  let done = false;
  // The same lines the server renders before any script runs.
  const show = (status) => {
    result.replaceChildren();
    if (status.verified) {
      done = true;
      result.append(line("SUCCESS: " + (status.message || ""), "ok"));
      verified.hidden = false;
      return;
    }
    if (status.pending) {
      result.append(line(status.status + ": " + (status.message || "")));
      setTimeout(readStatus, 2000);
      return;
    }
    const code = status.code ? " (" + status.code + ")" : "";
    result.append(line(status.status + code + ": " + (status.message || ""), "fail"));
    if (status.fix) result.append(line("What to fix: " + status.fix, "fix"));
  };

  // Too soon: the last diagnosis stays, and a countdown says when the
  // button works again.
  let countdown = null;
  const holdFor = (seconds) => {
    clearInterval(countdown);
    let left = Math.max(1, Math.ceil(seconds));
    const tick = () => {
      if (left <= 0) {
        clearInterval(countdown);
        wait.textContent = "";
        check.disabled = false;
        return;
      }
      wait.textContent = "You can check again in " + left + " s.";
      check.disabled = true;
      left -= 1;
    };
    tick();
    countdown = setInterval(tick, 1000);
  };
  if (wait && wait.dataset.seconds) holdFor(Number(wait.dataset.seconds));

  // An organization's check is a sync: read its status until it is done.
  let reads = 0;
  const readStatus = async () => {
    if (++reads > 90) return;
    try {
      const reply = await fetch(base + "/status", { headers: { Accept: "application/json" } });
      if (reply.ok) show(await reply.json());
    } catch (_) {
      setTimeout(readStatus, 5000);
    }
  };

  // One check; true when it ran (not refused as too soon).
  const runCheck = async (quiet) => {
    check.disabled = true;
    if (!quiet) {
      result.prepend(line("Checking…", "checking"));
    }
    try {
      const reply = await fetch(base + "/check", {
        method: "POST",
        headers: { Accept: "application/json" },
      });
      const body = await reply.json();
      result.querySelectorAll(".checking").forEach((p) => p.remove());
      if (reply.ok) {
        reads = 0;
        show(body);
        check.disabled = false;
        return true;
      }
      if (reply.status === 429) {
        holdFor(Number(reply.headers.get("Retry-After")) || 10);
        return false;
      }
      result.replaceChildren(line(body.error ? body.error.message : "The check failed; try again.", "fail"));
    } catch (_) {
      result.querySelectorAll(".checking").forEach((p) => p.remove());
      result.replaceChildren(line("Could not reach the service; check your network and try again.", "fail"));
    }
    check.disabled = false;
    return true;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    runCheck(false);
  });

  // After Launch Stack, the stack takes a minute or two: check by itself,
  // first after 15 s, then backing off to every 2 minutes, for 30 minutes.
  if (launch) {
    let delay = 15000;
    let started = 0;
    const watch = async () => {
      if (done || Date.now() - started > 30 * 60 * 1000) return;
      await runCheck(true);
      delay = Math.min(delay * 1.5, 120000);
      if (!done) setTimeout(watch, delay);
    };
    launch.addEventListener("click", () => {
      if (started) return;
      started = Date.now();
      setTimeout(watch, delay);
    });
  }
});

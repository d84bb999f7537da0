// The onboarding page's few behaviours: the stack's region, copying the
// external ID, and checking the connection. No inline script, no other
// origin: the page's Content-Security-Policy admits this file only.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main[data-base]");
  if (!main) return;
  const base = main.dataset.base;

  // An account's page has a region picker, a Launch Stack link and an
  // external ID to copy; an organization's has none of them.
  const region = document.getElementById("region");
  const launch = document.getElementById("launch");
  if (region && launch) {
    const placeRegion = () => {
      const url = launch.dataset.console.replace(
        "/cloudformation/home#",
        "/cloudformation/home?region=" + encodeURIComponent(region.value) + "#"
      );
      launch.href = url;
    };
    region.addEventListener("change", placeRegion);
    placeRegion();
  }

  const externalId = document.getElementById("external-id");
  const copied = document.getElementById("copied");
  const copy = document.getElementById("copy");
  if (externalId && copied && copy) {
    copy.addEventListener("click", async () => {
      externalId.select();
      try {
        await navigator.clipboard.writeText(externalId.value);
        copied.textContent = "Copied.";
      } catch (_) {
        copied.textContent = "Selected: press Ctrl+C (or Cmd+C) to copy.";
      }
    });
  }

  const check = document.getElementById("check");
  const result = document.getElementById("result");
  const verified = document.getElementById("verified");
  const line = (text, className) => {
    const p = document.createElement("p");
    if (className) p.className = className;
    p.textContent = text;
    return p;
  };
  // The same lines the server renders before any script runs.
  const show = (status) => {
    result.replaceChildren();
    if (status.verified) {
      result.append(line("SUCCESS: " + (status.message || ""), "ok"));
      verified.hidden = false;
      return;
    }
    if (status.pending) {
      result.append(line(status.status + ": " + (status.message || "")));
      setTimeout(poll, 2000);
      return;
    }
    const code = status.code ? " (" + status.code + ")" : "";
    result.append(line(status.status + code + ": " + (status.message || ""), "fail"));
    if (status.fix) result.append(line("What to fix: " + status.fix, "fix"));
  };
  // An organization's check is a sync: read its status until it is done.
  let polls = 0;
  const poll = async () => {
    if (++polls > 90) return;
    try {
      const reply = await fetch(base + "/status");
      if (reply.ok) show(await reply.json());
    } catch (_) {
      setTimeout(poll, 5000);
    }
  };
  check.addEventListener("click", async () => {
    check.disabled = true;
    result.replaceChildren(line("Checking…"));
    try {
      const reply = await fetch(base + "/check", { method: "POST" });
      const body = await reply.json();
      if (reply.ok) {
        polls = 0;
        show(body);
      } else {
        result.replaceChildren(line(body.error ? body.error.message : "The check failed; try again.", "fail"));
      }
    } catch (_) {
      result.replaceChildren(line("Could not reach the service; check your network and try again.", "fail"));
    } finally {
      check.disabled = false;
    }
  });
});

// jobwarden dashboard: live updates (server-sent events), the cancel dialog and
// the page's actions. No framework, no build step. The server renders every piece
// of HTML; this script only swaps the regions marked data-live when the watches
// report a change, and sends the user's clicks as JSON POSTs.
(() => {
  "use strict";

  const base = document.body.dataset.base;
  const TERMINAL = new Set(["Succeeded", "Failed", "Cancelled"]);
  const CANCELLING = "Cancelling…";
  const pending = new Set(); // keys of runs whose cancel was just sent
  const dialog = document.getElementById("cancel-dialog");
  const reasonInput = document.getElementById("cancel-reason");
  let target = null; // the run the dialog is about

  // ------------------------------------------------------------ messages
  function say(id, text) {
    const region = document.getElementById(id);
    if (region) region.textContent = text;
  }
  const notice = (text) => say("notice", text);
  const alertText = (text) => say("alert", text);

  // ------------------------------------------------------------ requests
  function post(path, data) {
    return fetch(base + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(data),
    });
  }

  async function answer(response) {
    try {
      return await response.json();
    } catch (_err) {
      return {};
    }
  }

  // ------------------------------------------------------------ live regions
  let timer = null;
  let inflight = false;
  let again = false;

  function schedule(delay = 120) {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      refresh();
    }, delay);
  }

  async function refresh() {
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const response = await fetch(location.href, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (response.ok || response.status === 404) swap(await response.text());
    } catch (_err) {
      // the next change or reconnect tries again
    } finally {
      inflight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  function swap(text) {
    const fresh = new DOMParser().parseFromString(text, "text/html");
    const focusedId = document.activeElement ? document.activeElement.id : "";
    for (const region of fresh.querySelectorAll("[data-live][id]")) {
      const old = document.getElementById(region.id);
      if (!old) continue;
      for (const name of ["data-key", "data-phase", "data-state"]) {
        if (region.hasAttribute(name)) old.setAttribute(name, region.getAttribute(name));
      }
      if (old.innerHTML !== region.innerHTML) {
        old.replaceChildren(...Array.from(region.childNodes, (n) => document.importNode(n, true)));
      }
    }
    applyPending();
    tick();
    if (focusedId && (!document.activeElement || document.activeElement === document.body)) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
    }
    document.body.dataset.refreshed = String(Date.now());
  }

  // ------------------------------------------------------------ cancelling
  function holders(key) {
    return Array.from(document.querySelectorAll("[data-key][data-state]")).filter(
      (el) => el.dataset.key === key,
    );
  }

  function showCancelling(key) {
    for (const el of document.querySelectorAll("[data-phase-for]")) {
      if (el.dataset.phaseFor === key && !TERMINAL.has(el.textContent)) {
        el.textContent = CANCELLING;
        el.className = "badge phase-cancelling";
      }
    }
    for (const button of document.querySelectorAll("[data-cancel]")) {
      if (button.dataset.key === key) button.hidden = true;
    }
  }

  function applyPending() {
    for (const key of Array.from(pending)) {
      const seen = holders(key);
      const settled = seen.some(
        (el) => el.dataset.state === "requested" || TERMINAL.has(el.dataset.phase),
      );
      if (settled) pending.delete(key);
      else showCancelling(key);
    }
  }

  function openDialog(button) {
    target = {
      kind: button.dataset.kind,
      namespace: button.dataset.namespace,
      name: button.dataset.name,
      key: button.dataset.key,
      id: button.id,
    };
    say("cancel-target", `${target.kind} ${target.name}`);
    reasonInput.value = "";
    alertText("");
    dialog.showModal();
    document.getElementById("cancel-dismiss").focus();
  }

  function closeDialog() {
    if (dialog.open) dialog.close();
    const trigger = target ? document.getElementById(target.id) : null;
    if (trigger && !trigger.hidden) trigger.focus();
  }

  function focusables(root) {
    return Array.from(
      root.querySelectorAll("button:not([disabled]), input:not([disabled]), a[href], select"),
    ).filter((el) => !el.hidden);
  }

  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeDialog();
      return;
    }
    if (event.key !== "Tab") return;
    const items = focusables(dialog);
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    } else if (!dialog.contains(document.activeElement)) {
      event.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault(); // Escape: close it ourselves, focus back on the button
    closeDialog();
  });
  document.getElementById("cancel-dismiss").addEventListener("click", closeDialog);

  document.getElementById("cancel-confirm").addEventListener("click", async () => {
    const run = target;
    const reason = reasonInput.value.trim();
    dialog.close();
    pending.add(run.key);
    showCancelling(run.key);
    notice(`Cancelling ${run.kind} ${run.name}…`);
    const main = document.getElementById("main");
    main.focus();
    let response;
    try {
      response = await post("/api/cancel", {
        kind: run.kind,
        namespace: run.namespace,
        name: run.name,
        reason,
      });
    } catch (err) {
      pending.delete(run.key);
      alertText(`Could not cancel ${run.name}: the dashboard did not answer (${err}).`);
      schedule(0);
      return;
    }
    const data = await answer(response);
    if (!response.ok) {
      pending.delete(run.key);
      notice("");
      alertText(`Could not cancel ${run.name}: ${data.error || response.statusText}`);
    }
    schedule(0);
  });

  // ------------------------------------------------------------ other actions
  async function act(button) {
    const action = button.dataset.action;
    const data = { namespace: button.dataset.namespace, name: button.dataset.name };
    button.disabled = true;
    alertText("");
    try {
      const response = await post(`/api/${action}`, data);
      const body = await answer(response);
      if (!response.ok) {
        alertText(`Could not ${action === "run" ? "start a run of" : action} ${data.name}: ${body.error || response.statusText}`);
      } else if (action === "run") {
        notice(`Started ${body.name}.`);
      } else {
        notice(`${data.name} ${action === "pause" ? "paused" : "resumed"}.`);
      }
    } catch (err) {
      alertText(`The dashboard did not answer: ${err}`);
    } finally {
      button.disabled = false;
      schedule(0);
    }
  }

  document.addEventListener("click", (event) => {
    const cancel = event.target.closest("[data-cancel]");
    if (cancel && !cancel.disabled) {
      event.preventDefault();
      openDialog(cancel);
      return;
    }
    const action = event.target.closest("button[data-action]");
    if (action) {
      event.preventDefault();
      act(action);
    }
  });

  // ------------------------------------------------------------ filters
  for (const form of document.querySelectorAll("form[data-live-form]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const url = new URL(form.getAttribute("action") || location.pathname, location.href);
      for (const [name, value] of new FormData(form)) {
        if (String(value).trim()) url.searchParams.set(name, String(value).trim());
      }
      history.replaceState(null, "", url.pathname + url.search);
      const download = document.querySelector("a[download]");
      refresh().then(() => notice("Filters applied."));
      if (download) download.blur();
    });
    for (const select of form.querySelectorAll("select")) {
      select.addEventListener("change", () => form.requestSubmit());
    }
  }

  // ------------------------------------------------------------ elapsed times
  function human(seconds) {
    const total = Math.max(Math.floor(seconds), 0);
    const minutes = Math.floor(total / 60);
    const hours = Math.floor(total / 3600);
    const days = Math.floor(total / 86400);
    if (total < 120) return `${total}s`;
    if (minutes < 10) return total % 60 ? `${minutes}m${total % 60}s` : `${minutes}m`;
    if (minutes < 180) return `${minutes}m`;
    if (hours < 8) return minutes % 60 ? `${hours}h${minutes % 60}m` : `${hours}h`;
    if (hours < 48) return `${hours}h`;
    if (hours < 192) return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`;
    return `${days}d`;
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll(".elapsed[data-start]:not([data-end])")) {
      el.textContent = human((now - Date.parse(el.dataset.start)) / 1000);
    }
  }
  setInterval(tick, 1000);

  // ------------------------------------------------------------ the stream
  const live = document.getElementById("live");
  function connect() {
    const source = new EventSource(`${base}/events`);
    source.addEventListener("hello", () => {
      live.dataset.state = "live";
      live.textContent = "Live updates on";
      schedule(0); // catch up with what changed while (re)connecting
    });
    source.addEventListener("change", () => schedule());
    source.addEventListener("error", () => {
      live.dataset.state = "reconnecting";
      live.textContent = "Live updates interrupted; reconnecting…";
    });
  }
  connect();
})();

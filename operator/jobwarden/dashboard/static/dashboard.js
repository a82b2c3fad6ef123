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
        // What the reader opened stays open (a chart's table, say).
        const opened = Array.from(old.querySelectorAll("details[open][id]"), (d) => d.id);
        old.replaceChildren(...Array.from(region.childNodes, (n) => document.importNode(n, true)));
        for (const id of opened) {
          const details = document.getElementById(id);
          if (details) details.open = true;
        }
      }
    }
    applyPending();
    applySelection();
    tick();
    if (logs) logs.attemptsChanged();
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

  // A modal dialog keeps the focus: Tab and Shift+Tab cycle inside it, Escape closes.
  function trapFocus(box, close) {
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        close();
        return;
      }
      if (event.key !== "Tab") return;
      const items = focusables(box);
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      } else if (!box.contains(document.activeElement)) {
        event.preventDefault();
        first.focus();
      }
    });
    box.addEventListener("cancel", (event) => {
      event.preventDefault(); // Escape: close it ourselves, focus back on the opener
      close();
    });
  }
  trapFocus(dialog, closeDialog);
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
  const DOING = { run: "start a run of", rerun: "re-run", pause: "pause", resume: "resume" };

  function noticeWithLink(text, url, label) {
    const region = document.getElementById("notice");
    if (!region) return;
    region.textContent = text + " ";
    if (url) {
      const link = document.createElement("a");
      link.href = url;
      link.textContent = label;
      region.appendChild(link);
    }
  }

  async function act(button) {
    const action = button.dataset.action;
    const data = {
      kind: button.dataset.kind,
      namespace: button.dataset.namespace,
      name: button.dataset.name,
    };
    button.disabled = true;
    alertText("");
    try {
      const response = await post(`/api/${action}`, data);
      const body = await answer(response);
      if (!response.ok) {
        alertText(`Could not ${DOING[action] || action} ${data.name}: ${body.error || response.statusText}`);
      } else if (action === "run" || action === "rerun") {
        noticeWithLink(`Started ${body.name}.`, body.url, `Open ${body.name}`);
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
    if (action && !action.disabled) {
      event.preventDefault();
      act(action);
      return;
    }
    if (event.target.closest("#cancel-selected") && !event.target.closest("#cancel-selected").disabled) {
      event.preventDefault();
      openBulk(Array.from(selected).map(itemOf), "selected");
      return;
    }
    if (event.target.closest("#cancel-matching") && !event.target.closest("#cancel-matching").disabled) {
      event.preventDefault();
      previewMatching();
    }
  });
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.matches && box.matches("input[data-select]")) {
      if (box.checked) selected.add(box.dataset.select);
      else selected.delete(box.dataset.select);
      applySelection();
    } else if (box.id === "select-page") {
      for (const one of document.querySelectorAll("input[data-select]")) {
        if (box.checked) selected.add(one.dataset.select);
        else selected.delete(one.dataset.select);
      }
      applySelection();
    }
  });

  // ------------------------------------------------------------ cancel many
  // Ticked rows survive the live swaps: the keys are kept here and ticked again.
  const selected = new Set();
  const bulkDialog = document.getElementById("bulk-dialog");
  const bulkReason = document.getElementById("bulk-reason");
  let bulkItems = [];
  let bulkOpener = null;
  const BULK_NAMED = 5;

  function itemOf(key) {
    const [kind, namespace, ...rest] = key.split("/");
    return { kind, namespace, name: rest.join("/") };
  }

  function applySelection() {
    const boxes = Array.from(document.querySelectorAll("input[data-select]"));
    const present = new Set(boxes.map((b) => b.dataset.select));
    for (const key of Array.from(selected)) {
      // A ticked run that finished or got a cancel elsewhere drops out of the choice.
      if (!present.has(key) && document.querySelector(`tr[data-key="${CSS.escape(key)}"]`)) {
        selected.delete(key);
      }
    }
    for (const box of boxes) box.checked = selected.has(box.dataset.select);
    const all = document.getElementById("select-page");
    if (all) all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
    const count = document.getElementById("selected-count");
    if (count) count.textContent = String(selected.size);
    const button = document.getElementById("cancel-selected");
    if (button) {
      button.disabled = selected.size === 0;
      if (selected.size) button.removeAttribute("title");
      else button.title = "Tick the runs to cancel first";
    }
  }

  function openBulk(items, how) {
    if (!items.length) return;
    bulkItems = items;
    bulkOpener = document.activeElement;
    const noun = items.length === 1 ? "job" : "jobs";
    say("bulk-count", `${items.length} ${noun}`);
    const list = document.getElementById("bulk-list");
    list.replaceChildren();
    for (const item of items.slice(0, BULK_NAMED)) {
      const li = document.createElement("li");
      li.textContent = `${item.kind} ${item.namespace}/${item.name}` + (item.phase ? ` (${item.phase})` : "");
      list.appendChild(li);
    }
    if (items.length > BULK_NAMED) {
      const li = document.createElement("li");
      li.textContent = `…and ${items.length - BULK_NAMED} more`;
      list.appendChild(li);
    }
    bulkDialog.dataset.how = how;
    bulkReason.value = "";
    alertText("");
    bulkDialog.showModal();
    document.getElementById("bulk-dismiss").focus();
  }

  function closeBulk() {
    if (bulkDialog.open) bulkDialog.close();
    if (bulkOpener && document.body.contains(bulkOpener) && !bulkOpener.disabled) bulkOpener.focus();
  }

  async function previewMatching() {
    const params = Object.fromEntries(new URL(location.href).searchParams);
    try {
      const response = await post("/api/cancel-preview", params);
      const body = await answer(response);
      if (!response.ok) {
        alertText(`Could not list the runs to cancel: ${body.error || response.statusText}`);
        return;
      }
      if (!body.count) {
        notice("No unfinished run matches this filter: nothing to cancel.");
        return;
      }
      openBulk(body.items, "matching");
    } catch (err) {
      alertText(`The dashboard did not answer: ${err}`);
    }
  }

  function showResults(body) {
    const section = document.getElementById("bulk-results");
    const out = document.getElementById("bulk-results-body");
    if (!section || !out) return;
    const counts = body.counts || {};
    const summary = document.createElement("p");
    summary.className = "bulk-summary";
    summary.textContent = ["cancelled", "refused", "already finished"]
      .map((k) => `${counts[k] || 0} ${k}`)
      .join(", ") + ".";
    const list = document.createElement("ul");
    list.className = "bulk-list";
    for (const r of body.results || []) {
      const li = document.createElement("li");
      li.dataset.result = r.said;
      li.dataset.key = `${r.kind}/${r.namespace}/${r.name}`;
      li.textContent = `${r.kind} ${r.namespace}/${r.name}: ${r.said}` + (r.said === "refused" ? ` (${r.message})` : "");
      list.appendChild(li);
    }
    out.replaceChildren(summary, list);
    section.hidden = false;
  }

  trapFocus(bulkDialog, closeBulk);
  document.getElementById("bulk-dismiss").addEventListener("click", closeBulk);
  document.getElementById("bulk-confirm").addEventListener("click", async () => {
    const items = bulkItems.map(({ kind, namespace, name }) => ({ kind, namespace, name }));
    const reason = bulkReason.value.trim();
    bulkDialog.close();
    for (const item of items) {
      const key = `${item.kind}/${item.namespace}/${item.name}`;
      pending.add(key);
      showCancelling(key);
      selected.delete(key);
    }
    applySelection();
    notice(`Cancelling ${items.length} ${items.length === 1 ? "job" : "jobs"}…`);
    document.getElementById("main").focus();
    try {
      const response = await post("/api/cancel-many", { items, reason });
      const body = await answer(response);
      if (!response.ok) {
        for (const item of items) pending.delete(`${item.kind}/${item.namespace}/${item.name}`);
        alertText(`Could not cancel: ${body.error || response.statusText}`);
      } else {
        for (const r of body.results || []) {
          if (r.said === "refused") pending.delete(`${r.kind}/${r.namespace}/${r.name}`);
        }
        const counts = body.counts || {};
        notice(`Done: ${counts.cancelled || 0} cancelled, ${counts.refused || 0} refused, ${counts["already finished"] || 0} already finished.`);
        showResults(body);
      }
    } catch (err) {
      alertText(`The dashboard did not answer: ${err}`);
    }
    schedule(0);
  });

  // ------------------------------------------------------------ worker log
  // Followed (a stream of lines) while the worker runs; its tail once it ended; a
  // plain message when the pod, or the right to read its log, is gone.
  const logs = (() => {
    const section = document.getElementById("logs");
    if (!section) return null;
    const select = document.getElementById("log-attempt");
    const text = document.getElementById("log-text");
    const state = document.getElementById("log-state");
    let source = null;
    let shown = "";

    function attempts() {
      return Array.from(document.querySelectorAll("#log-attempts li")).map((li) => ({
        attempt: li.dataset.attempt,
        pod: li.dataset.pod,
        follow: li.dataset.follow === "true",
      }));
    }

    function stop() {
      if (source) source.close();
      source = null;
    }

    function setState(kind, message) {
      section.dataset.state = kind;
      state.textContent = message;
    }

    function append(line) {
      const atEnd = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
      text.append(line + "\n");
      if (atEnd) text.scrollTop = text.scrollHeight;
    }

    // `followed`: the stream of a worker that just ended; if its log cannot be read
    // any more (its container removed), the lines followed so far stay shown.
    async function tail(attempt, note, followed) {
      stop();
      try {
        const response = await fetch(`${section.dataset.logUrl}?attempt=${encodeURIComponent(attempt)}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        const body = await answer(response);
        if (body.state === "ok") {
          text.textContent = body.text;
          const lines = body.text ? body.text.replace(/\n$/, "").split("\n").length : 0;
          setState("tail", note || `The worker of attempt ${attempt} (pod ${body.pod}) has ended: its last ${lines} lines.`);
        } else if (followed && text.textContent) {
          setState(body.state || "unavailable", `${body.message || "The log cannot be read."} The lines above were followed while it ran.`);
        } else {
          text.textContent = "";
          setState(body.state || "unavailable", body.message || "The log cannot be read.");
        }
      } catch (err) {
        setState("unavailable", `The dashboard did not answer: ${err}`);
      }
    }

    function follow(attempt) {
      stop();
      text.textContent = "";
      setState("connecting", `Connecting to the log of attempt ${attempt}…`);
      const stream = new EventSource(`${section.dataset.logUrl}/stream?attempt=${encodeURIComponent(attempt)}`);
      source = stream;
      stream.addEventListener("pod", (event) => {
        const body = JSON.parse(event.data);
        setState("following", `Following the log of attempt ${attempt} (pod ${body.pod}) as it is written.`);
      });
      stream.addEventListener("line", (event) => append(JSON.parse(event.data)));
      stream.addEventListener("end", () => {
        stop();
        tail(attempt, undefined, true);
      });
      stream.addEventListener("problem", (event) => {
        stop();
        const body = JSON.parse(event.data);
        setState(body.state || "unavailable", body.message || "The log cannot be read.");
      });
      stream.addEventListener("error", () => {
        // The stream broke (not ended): show what there is; Reload follows again.
        // If the tail cannot be read any more, the lines followed so far stay shown.
        if (source === stream) tail(attempt, `The log stream of attempt ${attempt} was interrupted: showing its tail. Reload to follow it again.`, true);
      });
    }

    function load() {
      const chosen = attempts().find((a) => a.attempt === select.value);
      if (!chosen) return;
      shown = chosen.attempt + (chosen.follow ? ":follow" : ":tail");
      if (chosen.follow) follow(chosen.attempt);
      else tail(chosen.attempt);
    }

    function attemptsChanged() {
      const list = attempts();
      const values = Array.from(select.options).map((o) => o.value);
      const latest = list.length ? list[list.length - 1] : null;
      const onLatest = !select.value || select.value === values[values.length - 1];
      if (list.map((a) => a.attempt).join() !== values.join()) {
        select.replaceChildren(...list.map((a) => {
          const option = document.createElement("option");
          option.value = a.attempt;
          option.textContent = `${a.attempt} (${a.pod})`;
          return option;
        }));
        document.getElementById("log-controls").hidden = list.length === 0;
        if (latest && onLatest) select.value = latest.attempt;
      }
      const chosen = list.find((a) => a.attempt === select.value);
      if (chosen && shown !== chosen.attempt + (chosen.follow ? ":follow" : ":tail")) {
        if (chosen.follow || !source) load();
      }
    }

    select.addEventListener("change", load);
    document.getElementById("log-reload").addEventListener("click", load);
    if (attempts().length) load();
    return { attemptsChanged };
  })();

  // ------------------------------------------------------------ new scheduled job
  (() => {
    const form = document.getElementById("new-job");
    if (!form) return;
    const preset = document.getElementById("nj-preset");
    const schedule = document.getElementById("nj-schedule");
    const create = document.getElementById("nj-create");
    const check = document.getElementById("nj-check");
    const fires = document.getElementById("nj-fires");
    const yaml = document.getElementById("nj-yaml");
    let timer = null;
    let asked = 0;

    function values() {
      const data = Object.fromEntries(new FormData(form));
      data.suspend = document.getElementById("nj-suspend").checked;
      return data;
    }

    function showProblems(problems) {
      for (const el of form.querySelectorAll(".problem[id$='-problem']")) el.textContent = "";
      for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
      for (const p of problems) {
        const input = form.querySelector(`[name="${CSS.escape(p.field)}"]`);
        const slot = input ? document.getElementById(`${input.id}-problem`) : null;
        if (input) input.setAttribute("aria-invalid", "true");
        if (slot) slot.textContent = p.message;
        else document.getElementById("nj-form-problem").textContent = p.message;
      }
    }

    function showFires(list, notes, zone) {
      fires.replaceChildren(...list.map((utc, index) => {
        const li = document.createElement("li");
        const time = document.createElement("time");
        time.setAttribute("datetime", utc);
        time.title = `${utc} (UTC)`;
        time.dataset.when = "";
        time.dataset.zone = zone;
        li.appendChild(time);
        if (notes[index]) {
          const note = document.createElement("span");
          note.className = "dst-note";
          note.textContent = ` (DST: ${notes[index]})`;
          li.appendChild(note);
        }
        return li;
      }));
      tick();
    }

    async function preview() {
      const mine = ++asked;
      check.textContent = "Checking…";
      let response;
      try {
        response = await post("/api/preview", values());
      } catch (err) {
        check.textContent = `The dashboard did not answer: ${err}`;
        return;
      }
      const body = await answer(response);
      if (mine !== asked) return; // a newer check is on its way
      showProblems(body.problems || []);
      showFires(body.fires || [], body.notes || [], body.zone || "UTC");
      yaml.textContent = body.yaml || "";
      const refused = document.getElementById("create-refused");
      create.disabled = !body.ok || Boolean(refused);
      form.dataset.checked = body.ok ? "ok" : "problems";
      check.textContent = body.ok
        ? "The API server accepts it (server-side dry run)."
        : `Not yet: ${(body.problems || []).length} problem(s) to fix.`;
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(preview, 300);
    }

    preset.addEventListener("change", () => {
      if (preset.value && preset.value !== "one-time") schedule.value = preset.value;
      schedule.disabled = preset.value === "one-time";
      later();
    });
    schedule.addEventListener("input", () => {
      const known = Array.from(preset.options).find((o) => o.value === schedule.value.trim());
      preset.value = known ? known.value : "";
    });
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      create.disabled = true;
      alertText("");
      try {
        const response = await post("/api/create", values());
        const body = await answer(response);
        if (!response.ok) {
          showProblems(body.problems || []);
          alertText(`Could not create it: ${body.error || response.statusText}`);
          create.disabled = false;
          return;
        }
        noticeWithLink(`Created ScheduledJob ${body.name}.`, body.url, `Open ${body.name}`);
        form.dataset.created = body.name;
        preview(); // the form now says the name is taken
      } catch (err) {
        alertText(`The dashboard did not answer: ${err}`);
        create.disabled = false;
      }
    });
    document.getElementById("nj-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(yaml.textContent);
        notice("The YAML is on the clipboard.");
      } catch (_err) {
        const range = document.createRange();
        range.selectNodeContents(yaml);
        const chosen = window.getSelection();
        chosen.removeAllRanges();
        chosen.addRange(range);
        notice("The YAML is selected: copy it with Ctrl+C.");
      }
    });
    preview();
  })();

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

  // ------------------------------------------------------------ times
  // A <time data-when> shows its moment in the browser's zone (or the job's own,
  // data-zone) with a relative form; its title keeps the raw UTC.
  const formats = new Map();
  function formatter(zone) {
    const key = zone || "";
    if (!formats.has(key)) {
      const options = {
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
        hourCycle: "h23", timeZoneName: "short",
      };
      if (zone) options.timeZone = zone;
      try {
        formats.set(key, new Intl.DateTimeFormat("en-CA", options));
      } catch (_err) {
        formats.set(key, new Intl.DateTimeFormat("en-CA", { ...options, timeZone: undefined }));
      }
    }
    return formats.get(key);
  }

  function localText(date, zone) {
    const parts = {};
    for (const part of formatter(zone).formatToParts(date)) parts[part.type] = part.value;
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${parts.timeZoneName}`;
  }

  function relative(seconds) {
    const ahead = seconds > 0;
    const size = Math.abs(seconds);
    let text;
    if (size < 1) return "now";
    if (size < 90) text = `${Math.round(size)} s`;
    else if (size < 90 * 60) text = `${Math.round(size / 60)} min`;
    else if (size < 36 * 3600) text = `${Math.round(size / 3600)} h`;
    else text = `${Math.round(size / 86400)} d`;
    return ahead ? `in ${text}` : `${text} ago`;
  }
  window.jobwardenRelative = relative; // for the tests of the wording

  function showTime(el, now) {
    const date = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) return;
    const text = `${localText(date, el.dataset.zone)} (${relative((date.getTime() - now) / 1000)})`;
    if (el.textContent !== text) el.textContent = text;
  }

  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll(".elapsed[data-start]:not([data-end])")) {
      el.textContent = human((now - Date.parse(el.dataset.start)) / 1000);
    }
    for (const el of document.querySelectorAll("time[data-when]")) showTime(el, now);
  }
  setInterval(tick, 1000);
  tick();
  // The overview's chart slides with the clock even when nothing changes.
  if (document.getElementById("chart-live")) setInterval(() => schedule(0), 30000);

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

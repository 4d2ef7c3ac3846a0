// The dev console: plays Keruj for one app and company through the
// console's API (/_dev/api/...), which holds the tokens. Everything the app
// said is put in the page as text (never as HTML).
"use strict";

const state = { apps: [], app: null, versions: {}, busy: false, steps: 0 };
const $ = (id) => document.getElementById(id);

/** Builds an element: el("div", {class: "x"}, child, "text", ...). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false)
      node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const short = (version) => (version ? version.slice(0, 8) : "—");
const company = () => $("company").value.trim();

// ---- apps, versions and the connection ----------------------------------

async function pollApps() {
  try {
    const response = await fetch("/_dev/api/apps");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { apps } = await response.json();
    setConnection(true);
    for (const app of apps) {
      const before = state.versions[app.app];
      if (before && app.version && before !== app.version) {
        showBanner(`A new version of ${app.app} is serving: ${short(before)} → ${short(app.version)}`);
      }
      if (app.version) state.versions[app.app] = app.version;
    }
    state.apps = apps;
    if (!state.app && apps.length === 1) state.app = apps[0].app;
    renderApps();
    renderHealth();
  } catch (error) {
    setConnection(false);
  }
}

function setConnection(up) {
  const pill = $("connection");
  pill.className = `pill ${up ? "pill-ok" : "pill-bad"}`;
  pill.textContent = up ? "Host running" : "Host not reachable";
}

function renderApps() {
  const list = $("apps");
  list.replaceChildren();
  if (state.apps.length === 0) {
    list.append(el("li", { class: "empty" }, "No apps in the plugins folder yet. Build one into it."));
  }
  for (const app of state.apps) {
    const dot = app.ok ? "ok" : app.version ? "bad" : "";
    list.append(el("li", {},
      el("button", {
        class: "app", type: "button", "data-app": app.app,
        "aria-pressed": String(app.app === state.app),
        title: app.problem || "serving",
        onclick: () => selectApp(app.app),
      },
      el("span", { class: `dot ${dot}` }),
      el("span", { class: "app-name" }, app.app),
      el("span", { class: "app-version" }, short(app.version)))));
  }
  updateButtons();
}

function selectApp(name) {
  if (state.app === name) return;
  state.app = name;
  clearDialogue();
  renderApps();
  renderHealth();
  renderTriggers();
}

function updateButtons() {
  const enabled = Boolean(state.app) && !state.busy;
  for (const button of document.querySelectorAll("[data-event], #custom button, [data-trigger]")) {
    button.disabled = !enabled;
  }
  $("dialogue-title").textContent = state.app ? `${state.app} · ${company() || "no company"}` : "Dialogue";
}

function showBanner(text) {
  const banner = $("banner");
  banner.replaceChildren(el("span", {}, text),
    el("button", { class: "link", type: "button", onclick: () => (banner.hidden = true) }, "Dismiss"));
  banner.hidden = false;
}

// ---- health ----------------------------------------------------------------

async function renderHealth() {
  const box = $("health");
  if (!state.app) return;
  const app = state.app;
  let health;
  try {
    const response = await fetch(`/apps/${encodeURIComponent(app)}/health`);
    health = await response.json();
  } catch (error) {
    health = { status: "unreachable", problem: String(error) };
  }
  if (app !== state.app) return;
  const ok = health.status === "ok";
  box.replaceChildren(
    el("div", { class: "health-status" }, el("span", { class: `dot ${ok ? "ok" : "bad"}` }),
      ok ? "Serving" : health.status === "unavailable" ? "Unavailable" : health.status),
    el("dl", {},
      el("dt", {}, "App"), el("dd", {}, app),
      el("dt", {}, "Version"), el("dd", { class: "mono", title: health.version || "" }, short(health.version)),
      health.problem ? [el("dt", {}, "Problem"), el("dd", {}, health.problem)] : null));
}

// ---- sending events --------------------------------------------------------

async function send(event, body) {
  if (!state.app || state.busy) return;
  if (!company()) {
    $("company").focus();
    return addStep(event, failed("Type a company id first."));
  }
  state.busy = true;
  updateButtons();
  document.querySelectorAll(".card.current").forEach((card) => {
    card.classList.replace("current", "past");
    card.querySelectorAll("input, select, textarea, button").forEach((input) => (input.disabled = true));
  });
  const pending = el("div", { class: "card pending" }, el("span", { class: "spinner" }), "Waiting for the app…");
  const step = addStep(event, pending);
  try {
    const response = await fetch("/_dev/api/send", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app: state.app, event, company: company(), body }),
    });
    const answer = await response.json();
    if (!response.ok) {
      pending.replaceWith(failed(answer.error || `HTTP ${response.status}`));
      return;
    }
    step.querySelector(".chip").textContent = answer.event;
    pending.replaceWith(renderAnswer(answer));
    addLogEntry(answer);
  } catch (error) {
    pending.replaceWith(failed(`The console could not reach the host: ${error.message}`));
  } finally {
    state.busy = false;
    updateButtons();
    renderHealth();
    renderTriggers();
  }
}

// ---- schedules and webhooks ------------------------------------------------

/** Lists the app's schedules (next due, "Run now") and webhooks (the
 * company's URL, "Send signed test delivery") for the company. */
async function renderTriggers() {
  const box = $("triggers");
  if (!state.app) return;
  const app = state.app;
  const who = company();
  if (!who) return box.replaceChildren(el("p", { class: "hint" }, "Type a company id."));
  let list;
  try {
    const query = `app=${encodeURIComponent(app)}&company=${encodeURIComponent(who)}`;
    const response = await fetch(`/_dev/api/triggers?${query}`);
    list = await response.json();
    if (!response.ok) throw new Error(list.error || `HTTP ${response.status}`);
  } catch (error) {
    if (app === state.app) box.replaceChildren(el("p", { class: "hint" }, String(error.message || error)));
    return;
  }
  if (app !== state.app || who !== company()) return;
  const items = [];
  for (const schedule of list.schedules) {
    const next = schedule.next_due ? new Date(schedule.next_due).toLocaleString() : "never";
    items.push(el("div", { class: "trigger", "data-schedule": schedule.event },
      el("div", { class: "trigger-head mono" }, schedule.event),
      el("div", { class: "trigger-meta" }, `${schedule.cadence} · next ${next}`),
      el("button", {
        class: "button", type: "button", "data-trigger": "schedule", disabled: state.busy || !list.installed,
        onclick: () => drive(schedule.event, "/_dev/api/run-schedule", { event: schedule.event }),
      }, "Run now")));
  }
  for (const hook of list.webhooks) {
    const signed = hook.verify !== "none";
    items.push(el("div", { class: "trigger", "data-webhook": hook.name },
      el("div", { class: "trigger-head mono" }, `${hook.name} → ${hook.event}`),
      el("div", { class: "trigger-meta" }, signed ? `${hook.verify}, ${hook.secret}` : "unsigned"),
      hook.url ? el("input", { class: "input mono", readonly: true, value: hook.url, "aria-label": `${hook.name} URL`,
        onfocus: (focused) => focused.target.select() }) : null,
      el("button", {
        class: "button", type: "button", "data-trigger": "webhook", disabled: state.busy || !hook.url,
        onclick: () => drive(hook.event, "/_dev/api/deliver", { name: hook.name }),
      }, signed && hook.can_sign ? "Send signed test delivery" : "Send test delivery"),
      signed && !hook.can_sign ? el("p", { class: "hint" }, `Sent unsigned: ${hook.cannot_sign_because}`) : null));
  }
  // What the app made at run time for the company (contract 0.2.0).
  for (const made of list.made || []) {
    const next = made.next_due ? new Date(made.next_due).toLocaleString() : "never";
    items.push(el("div", { class: "trigger", "data-made": made.id },
      el("div", { class: "trigger-head mono" }, `${made.event} (made by the app)`),
      el("div", { class: "trigger-meta" }, `${made.when} · next ${next} · payload ${JSON.stringify(made.payload)}`),
      el("button", {
        class: "button", type: "button", "data-trigger": "made", disabled: state.busy,
        onclick: () => drive(made.event, "/_dev/api/run-schedule", { id: made.id }),
      }, "Run now")));
  }
  for (const minted of list.minted || []) {
    items.push(el("div", { class: "trigger", "data-minted": minted.label },
      el("div", { class: "trigger-head mono" }, `${minted.name}: ${minted.label || "(no label)"} (minted by the app)`),
      el("input", { class: "input mono", readonly: true, value: minted.url, "aria-label": `${minted.label} URL`,
        onfocus: (focused) => focused.target.select() }),
      el("button", {
        class: "button", type: "button", "data-trigger": "minted", disabled: state.busy,
        onclick: () => drive(minted.name, "/_dev/api/deliver", { url: minted.url }),
      }, "Send test delivery")));
  }
  if (items.length === 0) items.push(el("p", { class: "hint" }, "The sidecar declares no [[schedule]] or [[webhook]]."));
  else if (!list.installed) items.push(el("p", { class: "hint" }, "Install the app for this company to run them."));
  box.replaceChildren(...items);
}

/** Fires a schedule or a webhook delivery and shows it like a sent event. */
async function drive(label, path, payload) {
  if (!state.app || state.busy) return;
  state.busy = true;
  updateButtons();
  const pending = el("div", { class: "card pending" }, el("span", { class: "spinner" }), "Waiting for the app…");
  const step = addStep(label, pending);
  step.querySelector(".step-event").firstChild.textContent = "The host started";
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ app: state.app, company: company(), ...payload }),
    });
    const answer = await response.json();
    if (!response.ok) return pending.replaceWith(failed(answer.error || `HTTP ${response.status}`));
    pending.replaceWith(renderAnswer(answer));
    addLogEntry(answer);
  } catch (error) {
    pending.replaceWith(failed(`The console could not reach the host: ${error.message}`));
  } finally {
    state.busy = false;
    updateButtons();
    renderTriggers();
  }
}

function addStep(event, content) {
  const dialogue = $("dialogue");
  if (state.steps === 0) dialogue.replaceChildren();
  state.steps += 1;
  const step = el("div", { class: "step" },
    el("div", { class: "step-event" }, "Keruj sent", el("span", { class: "chip" }, event)), content);
  dialogue.append(step);
  step.scrollIntoView({ block: "nearest" });
  return step;
}

function clearDialogue() {
  state.steps = 0;
  $("dialogue").replaceChildren(el("div", { class: "placeholder" },
    el("p", { class: "placeholder-title" }, state.app ? `${state.app} is ready` : "Pick an app to begin"),
    el("p", {}, "Install it for a company, then configure it: its forms appear here as Keruj would show them.")));
}

function failed(message, detail) {
  return el("div", { class: "card failed", role: "alert" }, el("div", {}, message),
    detail ? el("div", { class: "detail" }, detail) : null);
}

function renderAnswer(answer) {
  if (answer.status >= 300) {
    return failed(`The host answered ${answer.status}`, answer.error);
  }
  if (answer.reply) return renderForm(answer.reply);
  return el("div", { class: "card done", role: "status" }, `✓ Done: the app accepted ${answer.event}.`);
}

// ---- forms, as Keruj shows them ----------------------------------------------

function renderForm(form) {
  const errors = form.errors || {};
  const names = new Set(form.elements.map((element) => element.name));
  const stray = Object.entries(errors).filter(([name]) => !names.has(name));
  const fields = form.elements.map((element) => renderElement(element, errors[element.name]));
  const node = el("form", { class: "card current", novalidate: true, "data-reply": form.reply },
    el("h3", { class: "form-title" }, form.title),
    form.description ? el("p", { class: "form-description" }, form.description) : null,
    stray.map(([name, message]) => el("p", { class: "form-error" }, `${name}: ${message}`)),
    el("div", { class: "form-fields" }, fields),
    el("div", { class: "form-actions" },
      el("button", { class: "button primary", type: "submit" }, "Submit"),
      el("span", { class: "hint" }, "answers go back as ", el("code", {}, form.reply))));
  node.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    send(form.reply, { data: collect(node, form) });
  });
  return node;
}

let fieldIds = 0;

function renderElement(element, error) {
  const id = `field-${++fieldIds}`;
  const label = el("label", { class: "field-label", for: id }, element.label,
    element.required ? el("span", { class: "required", title: "required" }, "*") : null);
  const common = { id, name: element.name, "aria-invalid": error ? "true" : null, required: element.required };
  const value = element.value === undefined || element.value === null ? "" : element.value;
  let control;
  switch (element.type) {
    case "info":
      return el("div", { class: "info", "data-name": element.name }, element.label,
        value !== "" ? el("div", { class: "muted" }, String(value)) : null);
    case "checkbox":
      control = el("input", { ...common, type: "checkbox", checked: value === true });
      return el("div", { class: `field${error ? " invalid" : ""}` },
        el("label", { class: "check", for: id }, control, element.label,
          element.required ? el("span", { class: "required" }, "*") : null),
        error ? el("p", { class: "field-error" }, error) : null);
    case "textarea":
      control = el("textarea", { ...common, class: "input", rows: 4 }, String(value));
      break;
    case "select":
      control = el("select", { ...common, class: "input" },
        el("option", { value: "" }, "Choose…"),
        (element.options || []).map((option) =>
          el("option", { value: option.value, selected: option.value === value }, option.label)));
      break;
    case "number":
      control = el("input", { ...common, class: "input", type: "number", step: "any", value: String(value) });
      break;
    case "password":
      control = el("input", { ...common, class: "input", type: "password", autocomplete: "new-password" });
      break;
    default:
      control = el("input", {
        ...common, class: "input", type: element.secret ? "password" : "text",
        value: element.secret ? null : String(value), autocomplete: "off",
      });
  }
  return el("div", { class: `field${error ? " invalid" : ""}` }, label, control,
    error ? el("p", { class: "field-error", role: "alert" }, error) : null);
}

/** The answers as Keruj sends them: text as text, numbers as numbers, boxes as booleans. */
function collect(node, form) {
  const data = {};
  for (const element of form.elements) {
    if (element.type === "info") continue;
    const input = node.elements.namedItem(element.name);
    if (!input) continue;
    if (element.type === "checkbox") data[element.name] = input.checked;
    else if (element.type === "number" && input.value !== "" && Number.isFinite(Number(input.value)))
      data[element.name] = Number(input.value);
    else data[element.name] = input.value;
  }
  return data;
}

// ---- the event log -----------------------------------------------------------

function addLogEntry(answer) {
  const log = $("log");
  log.querySelector(".empty")?.remove();
  const klass = `status s${String(answer.status)[0]}`;
  const lines = answer.logs.map((line) =>
    el("li", { class: `line ${line.target === "plugin" ? "plugin" : "host"}` },
      el("span", { class: `line-level ${line.level}` }, line.level),
      el("span", { class: "line-text" }, line.target === "plugin" ? line.message : `host: ${line.message}`)));
  if (answer.logs_dropped) lines.push(el("li", { class: "line host" }, `… ${answer.logs_dropped} more lines`));
  const time = new Date().toLocaleTimeString();
  log.prepend(el("li", { class: `entry ${answer.status < 300 ? "ok" : "failed"}`, "data-request-id": answer.request_id },
    el("div", { class: "entry-head" },
      el("span", { class: klass }, answer.status),
      el("span", { class: "entry-event", title: answer.event }, answer.event),
      el("span", { class: "entry-meta" }, `${answer.ms} ms · ${time}`)),
    lines.length ? el("ol", { class: "lines" }, lines) : null,
    el("details", { class: "raw" }, el("summary", {}, "Request and reply"),
      el("pre", {}, JSON.stringify(answer.request, null, 2)),
      el("pre", {}, answer.error ? `error: ${answer.error}` :
        answer.reply ? JSON.stringify(answer.reply, null, 2) : "200, empty body (done)"),
      el("div", { class: "muted" }, `request id ${answer.request_id}`))));
}

// ---- wiring ------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-event]")) {
  button.addEventListener("click", () => send(button.dataset.event));
}
$("company").addEventListener("input", () => {
  updateButtons();
  clearTimeout(state.triggersTimer);
  state.triggersTimer = setTimeout(renderTriggers, 300);
});
$("clear").addEventListener("click", clearDialogue);
$("custom").addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const error = $("custom-error");
  const event = $("custom-event").value.trim();
  let body;
  try {
    body = JSON.parse($("custom-body").value || "{}");
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw new Error("the body must be a JSON object");
  } catch (problem) {
    error.textContent = `Not valid JSON: ${problem.message}`;
    error.hidden = false;
    return;
  }
  if (!event) {
    error.textContent = "Name the event to send.";
    error.hidden = false;
    return;
  }
  error.hidden = true;
  send(event, body);
});

pollApps();
setInterval(pollApps, 2000);

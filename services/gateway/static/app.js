// The dashboard: polls the gateway's JSON API every few seconds, launches runs and stops them.
// Runs stream side by side, each its launcher's: every user's runs are listed, and each active run the
// caller may stop (their own; every run for an admin) has a Stop button of its own.
"use strict";

const REFRESH_MS = 3000;
const TOP_TAGS = 10, TAG_MINUTES = 60, LINE_MINUTES = 30;
const TOKEN_KEY = "apiToken";
const HASHTAGS_CHART = { emptyMessage: "no hashtag in the last hour" };
const MINUTES_CHART = { emptyMessage: "no minute to show" };
const RECENT_RUNS = 10;

const $ = (id) => document.getElementById(id);
const numberFormat = new Intl.NumberFormat();
const speedFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const latest = { hashtags: null, minutes: null };
let me = null;                 // GET /api/me: {role, name}; asked once per token (again after a failure)
let lastRuns = null;           // the runs last read, to redraw them once the caller is known
let refreshing = false;
let shownRuns = "";            // what the run list was drawn from, to redraw only on a change
const retrying = new Set();    // runs whose retry is under way: their button stays disabled
const stopping = new Set();    // runs whose stop is under way: their button stays disabled

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// JSON in and out; any answer but 401 comes back with its status (health answers 500 with a body).
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    askForToken();
    throw new ApiError(401, "the API asks for an access token");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: a proxy's error page; the status says enough
  }
  return { status: response.status, ok: response.ok, data };
}

function reason(answer) {
  return (answer.data && answer.data.error) || `HTTP ${answer.status}`;
}

function askForToken() {
  $("token-panel").hidden = false;
  $("token-input").focus();
}

function formatDuration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  const two = (n) => String(n).padStart(2, "0");
  if (h) return `${h} h ${two(m)} min`;
  if (m) return `${m} min ${two(s)} s`;
  return `${s} s`;
}

function showMessage(text, isError = false) {
  const message = $("run-message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

// -- who the caller is: what the page offers them ----------------------------------------------------

// An admin may stop and retry every run; an operator their own; a viewer none. An open stage gateway
// makes every caller an admin without a name (and its runs have no owner).
function mayAct(run) {
  if (!me) return false;
  return me.role === "admin" || (me.role === "operator" && me.name !== null && run.owner === me.name);
}

const mayLaunch = () => !me || me.role === "admin" || me.role === "operator";

async function loadMe() {
  const answer = await api("/api/me");
  if (!answer.ok || !answer.data) throw new ApiError(answer.status, `who you are: ${reason(answer)}`);
  me = { role: String(answer.data.role), name: answer.data.name == null ? null : String(answer.data.name) };
  showCaller();
}

function showCaller() {
  const who = $("me");
  who.textContent = !me ? "" : me.name === null ? `open gateway · ${me.role}` : `${me.name} · ${me.role}`;
  who.dataset.role = me ? me.role : "";
  const launching = mayLaunch();
  $("launch-fields").disabled = !launching;
  const note = $("role-note");
  note.hidden = launching;
  note.textContent = launching ? "" : "Launching and stopping runs needs the operator role; this token is a viewer's.";
  shownRuns = "";
  if (lastRuns) showRuns(lastRuns);
}

// -- panels --------------------------------------------------------------------------------------

async function loadStatistics() {
  const answer = await api("/statistics");
  if (!answer.ok) throw new ApiError(answer.status, `statistics: ${reason(answer)}`);
  $("amount").textContent = numberFormat.format(answer.data.amount);
  $("speed").textContent = speedFormat.format(answer.data.speed);
  $("elapsed").textContent = formatDuration(answer.data.elapsed_time);
}

async function loadRuns() {
  // the newest page, and every active run (an old one streaming still has its Stop)
  const [page, active] = await Promise.all([api("/statistics/runs"), api("/statistics/runs?status=active")]);
  for (const answer of [page, active]) if (!answer.ok) throw new ApiError(answer.status, `runs: ${reason(answer)}`);
  const byId = new Map();
  for (const run of [...page.data, ...active.data]) byId.set(run.run_id, run);
  const runs = [...byId.values()].sort((a, b) => b.run_id - a.run_id);   // newest first
  lastRuns = runs;
  showRuns(runs);
}

function showRuns(runs) {
  const activeRuns = runs.filter((run) => run.status === "active");
  // the caller's newest active run, else anyone's
  const shownRun = activeRuns.find((run) => me && run.owner === me.name) || activeRuns[0];
  const status = $("run-status");
  const chips = $("run-track");
  if (shownRun) {
    const others = activeRuns.length - 1;
    status.dataset.state = "active";
    const by = shownRun.owner == null ? "" : `, by ${shownRun.owner}`;
    status.textContent = `Run ${shownRun.run_id} active (${shownRun.source}${by}) · `
      + `${numberFormat.format(shownRun.amount)} tweets matched in ${formatDuration(shownRun.elapsed_time)}`
      + (others ? ` · ${plural(others, "other run")} active` : "");
    chips.replaceChildren(...shownRun.track.map((term) => textElement("li", "", term)));
  } else {
    const last = runs[0];
    status.dataset.state = "idle";
    status.textContent = last
      ? `No active run · last: run ${last.run_id} ${last.status}, ${numberFormat.format(last.amount)} tweets`
      : "No run yet";
    chips.replaceChildren();
  }
  drawRuns(runs);
}

// -- the run list: failures in red, with their cause, and a retry ---------------------------------

const failedBatchesOf = (run) => Number(run.failed_batches) || 0;
const plural = (count, one, many = `${one}s`) => `${numberFormat.format(count)} ${count === 1 ? one : many}`;

const ownerText = (run) => (run.owner == null ? "—" : String(run.owner));

// Newest first (as the API answers): the last RECENT_RUNS, every active run, and any older run that
// still has failed batches.
function drawRuns(runs) {
  const shown = runs.filter((run, index) => index < RECENT_RUNS || run.status === "active" || failedBatchesOf(run) > 0);
  const key = JSON.stringify([shown, [...retrying], [...stopping], me]);
  if (key === shownRuns) return;
  shownRuns = key;
  const list = $("runs-list");
  if (!shown.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No run yet";
    list.replaceChildren(empty);
    return;
  }
  list.replaceChildren(...shown.map(runItem));
}

function textElement(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  element.textContent = text;
  return element;
}

// Every piece of a run is set as text: the cause is an exception's message and may hold anything.
function runItem(run) {
  const failedBatches = failedBatchesOf(run);
  const item = document.createElement("li");
  item.dataset.runId = String(run.run_id);
  item.dataset.status = run.status;
  item.dataset.failed = String(failedBatches > 0 || run.status === "failed");
  item.dataset.owner = run.owner == null ? "" : String(run.owner);

  const head = document.createElement("div");
  head.className = "run-head";
  const status = textElement("span", "status", run.status);
  status.dataset.status = run.status;
  if (run.status === "draining") status.title = "ended by itself; its last batches are being committed";
  const owner = textElement("span", "owner", ownerText(run));
  owner.title = run.owner == null ? "no owner: launched through an open gateway" : `launched by ${run.owner}`;
  owner.dataset.mine = String(Boolean(me && me.name !== null && run.owner === me.name));
  head.append(
    textElement("strong", "run-id", `Run ${run.run_id}`),
    owner,
    status,
    textElement("span", "run-figures", `${run.source} · ${plural(Number(run.amount) || 0, "tweet")}`
      + ` · ${formatDuration(Number(run.elapsed_time) || 0)}`),
  );
  const actions = document.createElement("span");
  actions.className = "run-actions";
  if (run.status === "active" && mayAct(run)) {
    const stop = textElement("button", "secondary stop", "Stop");
    stop.type = "button";
    stop.title = `stop run ${run.run_id}`;
    stop.disabled = stopping.has(run.run_id);
    stop.addEventListener("click", () => stopRun(run.run_id));
    actions.append(stop);
  }
  // the API refuses another's retry (403, shown); once the caller is known, only their runs offer it
  if (failedBatches > 0 && (!me || mayAct(run))) {
    const retry = textElement("button", "secondary retry", "Retry");
    retry.type = "button";
    retry.title = `send run ${run.run_id}'s failed batches through the filter again`;
    retry.disabled = retrying.has(run.run_id);
    retry.addEventListener("click", () => retryRun(run.run_id));
    actions.append(retry);
  }
  if (actions.childElementCount) head.append(actions);
  item.append(head);

  if (failedBatches > 0 || run.error) {
    const failure = document.createElement("p");
    failure.className = "run-failure";
    if (failedBatches > 0) {
      failure.append(textElement("strong", "failed-count",
        `${plural(failedBatches, "failed batch", "failed batches")} (${plural(Number(run.failed_items) || 0, "item")})`));
    }
    if (run.error) {
      if (failedBatches > 0) failure.append(": ");
      failure.append(textElement("span", "cause", run.error));
    }
    item.append(failure);
  }
  return item;
}

function showRunsMessage(text, isError = false) {
  const message = $("runs-message");
  message.textContent = text;
  message.classList.toggle("error", isError);
}

async function stopRun(runId) {
  stopping.add(runId);
  shownRuns = "";
  for (const button of document.querySelectorAll(`#runs-list li[data-run-id="${runId}"] .stop`)) button.disabled = true;
  showRunsMessage(`Stopping run ${runId}…`);
  try {
    const answer = await api("/stop", { method: "POST", body: { run_id: runId } });
    if (answer.ok) {
      showRunsMessage(`Run ${answer.data.run_id} stopped: ${numberFormat.format(answer.data.amount)} tweets.`);
    } else {
      showRunsMessage(`Run ${runId} not stopped: ${reason(answer)}`, true);
    }
  } catch (error) {
    showRunsMessage(`Run ${runId} not stopped: ${error.message}`, true);
  } finally {
    stopping.delete(runId);
    shownRuns = "";
  }
  await refresh();
}

async function retryRun(runId) {
  retrying.add(runId);
  shownRuns = "";
  for (const button of document.querySelectorAll(`#runs-list li[data-run-id="${runId}"] .retry`)) button.disabled = true;
  showRunsMessage(`Retrying run ${runId}'s failed batches…`);
  try {
    const answer = await api(`/statistics/runs/${runId}/retry`, { method: "POST" });
    if (answer.ok) {
      const [retried, stored, stillFailing] = ["retried", "stored", "still_failing"].map((key) => Number(answer.data[key]) || 0);
      showRunsMessage(`Run ${runId}: ${plural(retried, "batch", "batches")} retried, ${numberFormat.format(stored)} stored, `
        + `${numberFormat.format(stillFailing)} still failing.`, stillFailing > 0);
    } else {
      showRunsMessage(`Run ${runId} not retried: ${reason(answer)}`, true);
    }
  } catch (error) {
    showRunsMessage(`Run ${runId} not retried: ${error.message}`, true);
  } finally {
    retrying.delete(runId);
    shownRuns = "";
  }
  await refresh();
}

async function loadHashtags() {
  const answer = await api(`/api/v1/hashtags/top?limit=${TOP_TAGS}&minutes=${TAG_MINUTES}`);
  if (!answer.ok) throw new ApiError(answer.status, `hashtags: ${reason(answer)}`);
  latest.hashtags = answer.data.map((row) => ({ label: `#${row.tag}`, count: row.count }));
  drawBarChart($("hashtags-chart"), latest.hashtags, HASHTAGS_CHART);
}

async function loadMinutes() {
  const answer = await api(`/api/v1/aggregates?minutes=${LINE_MINUTES}`);
  if (!answer.ok) throw new ApiError(answer.status, `tweets per minute: ${reason(answer)}`);
  latest.minutes = answer.data.map((row) => ({ time: new Date(row.minute), count: row.count }));
  drawLineChart($("minutes-chart"), latest.minutes, MINUTES_CHART);
}

async function loadHealth() {
  const answer = await api("/api/health");
  const badge = $("health-badge");
  const healthy = answer.ok && answer.data && answer.data.status === "ok";
  const checks = (answer.data && answer.data.checks) || {};
  // every component answers, but a report says otherwise (pipeline: batches failed lately)
  const reported = healthy ? Object.keys(checks).filter((name) => checks[name] !== "ok") : [];
  badge.textContent = !healthy ? "unhealthy" : reported.length ? `healthy · ${reported.join(", ")} failed` : "healthy";
  badge.dataset.state = !healthy ? "failed" : reported.length ? "warn" : "ok";
  $("health-checks").replaceChildren(...Object.entries(checks).map(([name, outcome]) => {
    const item = document.createElement("li");
    item.dataset.state = outcome === "ok" ? "ok" : "failed";
    const label = document.createElement("strong");
    label.textContent = name;
    item.append(label, ` ${outcome}`);
    return item;
  }));
}

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const loads = [loadStatistics(), loadRuns(), loadHashtags(), loadMinutes(), loadHealth()];
    if (!me) loads.push(loadMe());
    const results = await Promise.allSettled(loads);
    const failures = results.filter((result) => result.status === "rejected").map((result) => result.reason.message);
    $("refresh-error").textContent = failures.length ? ` · ${failures.join("; ")}` : "";
    if (!failures.length) $("updated").textContent = new Date().toLocaleTimeString();
  } finally {
    refreshing = false;
  }
}

// -- controls ------------------------------------------------------------------------------------

function launchRequest() {
  const track = $("track-input").value.split(/[,\n]/).map((term) => term.trim()).filter(Boolean);
  const request = { track };
  const rate = $("rate-input").value.trim();
  if (rate !== "") request.rate = Number(rate);
  const source = $("source-input").value;
  if (source) request.source = source;
  return request;
}

// Other runs may stream meanwhile: the form is busy only while its own launch is asked for.
async function start(event) {
  event.preventDefault();
  const request = launchRequest();
  if (!request.track.length) {
    showMessage("Give at least one track term.", true);
    $("track-input").focus();
    return;
  }
  $("start").disabled = true;
  try {
    const answer = await api("/launch", { method: "POST", body: request });
    showMessage(answer.ok ? `Run ${answer.data.run_id} started.` : `Not started: ${reason(answer)}`, !answer.ok);
  } catch (error) {
    showMessage(`Not started: ${error.message}`, true);
  } finally {
    $("start").disabled = false;
  }
  await refresh();
}

function saveToken(event) {
  event.preventDefault();
  const token = $("token-input").value.trim();
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  $("token-input").value = "";
  $("token-panel").hidden = true;
  me = null;   // another token, maybe another user: asked again on this refresh
  showCaller();
  refresh();
}

function redrawCharts() {
  if (latest.hashtags) drawBarChart($("hashtags-chart"), latest.hashtags, HASHTAGS_CHART);
  if (latest.minutes) drawLineChart($("minutes-chart"), latest.minutes, MINUTES_CHART);
}

$("launch-form").addEventListener("submit", start);
$("token-form").addEventListener("submit", saveToken);
window.addEventListener("resize", redrawCharts);
// a hidden tab does not poll; it catches up as soon as it is shown
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
refresh();

// The dashboard: polls the gateway's JSON API every few seconds and starts/stops runs.
"use strict";

const REFRESH_MS = 3000;
const TOP_TAGS = 10, TAG_MINUTES = 60, LINE_MINUTES = 30;
const TOKEN_KEY = "apiToken";
const HASHTAGS_CHART = { emptyMessage: "no hashtag in the last hour" };
const MINUTES_CHART = { emptyMessage: "no minute to show" };

const $ = (id) => document.getElementById(id);
const numberFormat = new Intl.NumberFormat();
const speedFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const latest = { hashtags: null, minutes: null };
let activeRun = null;
let refreshing = false;

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

// -- panels --------------------------------------------------------------------------------------

async function loadStatistics() {
  const answer = await api("/statistics");
  if (!answer.ok) throw new ApiError(answer.status, `statistics: ${reason(answer)}`);
  $("amount").textContent = numberFormat.format(answer.data.amount);
  $("speed").textContent = speedFormat.format(answer.data.speed);
  $("elapsed").textContent = formatDuration(answer.data.elapsed_time);
}

async function loadRuns() {
  const answer = await api("/statistics/runs");
  if (!answer.ok) throw new ApiError(answer.status, `runs: ${reason(answer)}`);
  const runs = answer.data;
  activeRun = null;
  for (const run of runs) if (run.status === "active") activeRun = run;
  const status = $("run-status");
  const chips = $("run-track");
  if (activeRun) {
    status.dataset.state = "active";
    status.textContent = `Run ${activeRun.run_id} active (${activeRun.source}) · `
      + `${numberFormat.format(activeRun.amount)} tweets matched in ${formatDuration(activeRun.elapsed_time)}`;
    chips.replaceChildren(...activeRun.track.map((term) => {
      const chip = document.createElement("li");
      chip.textContent = term;
      return chip;
    }));
  } else {
    const last = runs[runs.length - 1];
    status.dataset.state = "idle";
    status.textContent = last
      ? `No active run · last: run ${last.run_id} ${last.status}, ${numberFormat.format(last.amount)} tweets`
      : "No run yet";
    chips.replaceChildren();
  }
  $("start").disabled = Boolean(activeRun);
  $("stop").disabled = !activeRun;
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
  badge.textContent = healthy ? "healthy" : "unhealthy";
  badge.dataset.state = healthy ? "ok" : "failed";
  const checks = (answer.data && answer.data.checks) || {};
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
    const results = await Promise.allSettled([loadStatistics(), loadRuns(), loadHashtags(), loadMinutes(), loadHealth()]);
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
  }
  await refresh();
}

async function stop() {
  $("stop").disabled = true;
  try {
    const answer = await api("/stop", { method: "POST" });
    showMessage(answer.ok ? `Run ${answer.data.run_id} stopped: ${numberFormat.format(answer.data.amount)} tweets.`
                          : `Not stopped: ${reason(answer)}`, !answer.ok);
  } catch (error) {
    showMessage(`Not stopped: ${error.message}`, true);
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
  refresh();
}

function redrawCharts() {
  if (latest.hashtags) drawBarChart($("hashtags-chart"), latest.hashtags, HASHTAGS_CHART);
  if (latest.minutes) drawLineChart($("minutes-chart"), latest.minutes, MINUTES_CHART);
}

$("launch-form").addEventListener("submit", start);
$("stop").addEventListener("click", stop);
$("token-form").addEventListener("submit", saveToken);
window.addEventListener("resize", redrawCharts);
// a hidden tab does not poll; it catches up as soon as it is shown
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
refresh();

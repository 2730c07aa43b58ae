// The dashboard: loads the tables, follows the job events, starts jobs, classifies drawn digits.

import { api, followEvents } from "./api.js";
import { preprocess, setupPad, showPreview } from "./digit.js";
import { Jobs, fillForm, trainRequest } from "./jobs.js";

const $ = (selector) => document.querySelector(selector);
const bytes = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} kB`);
let models = [];

function rowOf(cells, id, onDelete) {
  const row = document.createElement("tr");
  row.dataset.id = id;
  for (const text of cells) row.insertCell().textContent = text;
  const actions = row.insertCell();
  if (onDelete) {
    const button = Object.assign(document.createElement("button"), { textContent: "delete" });
    const problem = Object.assign(document.createElement("span"), { className: "error" });
    button.addEventListener("click", () => onDelete().catch((error) => { problem.textContent = error.message; }));
    actions.append(button, problem);
  }
  return row;
}

const percent = (v) => (v === undefined ? "" : `${(100 * v).toFixed(2)} %`);

function modelRow(m) {
  const a = m.architecture;
  const final = m.finalMetrics || {};
  const remove = async () => {
    await api(`/api/v1/models/${m.modelId}`, { method: "DELETE" });
    await loadModels();
  };
  return rowOf([m.name || m.modelId, m.dataset, `${[a.inputSize, ...a.hiddenSizes, a.outputSize].join("-")} ${a.activation}`,
    Number(a.parameterCount).toLocaleString(), percent(final.testAccuracy), final.loss?.toFixed(4) ?? "",
    bytes(Number(m.sizeBytes)), (m.createTime || "").slice(0, 19).replace("T", " ")], m.modelId, remove);
}

async function loadModels() {
  models = (await api("/api/v1/models?page_size=500")).models;
  $("#models tbody").replaceChildren(...models.map(modelRow));
  const select = $("#digit-model");
  const chosen = select.value;
  // the pad draws uint8 pixels: a model of 784 float features (inputDtype "float32") would refuse them
  const drawable = models.filter((m) => m.architecture.inputSize === 784 && m.inputDtype !== "float32");
  select.replaceChildren(...drawable.map((m) => new Option(`${m.name || m.modelId} (${m.dataset})`, m.modelId)));
  if (drawable.some((m) => m.modelId === chosen)) select.value = chosen;
}

function datasetRow(d) {
  const uploaded = d.source.endsWith("UPLOADED");
  const remove = async () => {
    await api(`/api/v1/datasets/${encodeURIComponent(d.name)}`, { method: "DELETE" });
    await loadDatasets();
  };
  return rowOf([d.name, uploaded ? "uploaded" : "built-in", d.inputShape.join("×"), d.classes, d.trainSize,
    d.testSize, Number(d.sizeBytes) ? bytes(Number(d.sizeBytes)) : ""], d.name, uploaded ? remove : null);
}

async function loadDatasets() {
  const { datasets } = await api("/api/v1/datasets");
  $("#datasets tbody").replaceChildren(...datasets.map(datasetRow));
}

async function loadJobs(jobs, pageToken = "") {
  const page = await api(`/api/v1/jobs?page_token=${pageToken}`);
  if (pageToken) jobs.load(page.jobs); else jobs.reset(page.jobs);
  // bench/dashboard.py times the first render by this mark.
  if (!performance.getEntriesByName("jobs-rendered").length) performance.mark("jobs-rendered");
  const more = $("#jobs-more");
  more.hidden = !page.nextPageToken;
  more.onclick = () => loadJobs(jobs, page.nextPageToken);
  return page.feedVersion;
}

// One probability as a labelled bar.
function bar(label, p, best) {
  const row = document.createElement("div");
  row.className = best ? "bar best" : "bar";
  const parts = ["label", "fill", "value"].map((name) => Object.assign(document.createElement("span"), { className: name }));
  parts[0].textContent = label;
  parts[1].style.width = `${(100 * p).toFixed(1)}%`;
  parts[2].textContent = `${(100 * p).toFixed(1)} %`;
  row.append(...parts);
  return row;
}

async function classify(pad) {
  const pixels = preprocess(pad.grey());
  const answer = $("#digit-answer");
  $("#digit-error").textContent = "";
  if (!pixels) return;
  $("#digit-canvas").dataset.pixels = JSON.stringify(pixels);
  showPreview($("#digit-preview"), pixels);
  const modelId = $("#digit-model").value;
  if (!modelId) { $("#digit-error").textContent = "no model of 28×28 images yet: train one first"; return; }
  try {
    const result = await api(`/v2/models/${modelId}/infer`, { method: "POST", body: {
      inputs: [{ name: "input", shape: [1, 28, 28], datatype: "UINT8", data: pixels }] } });
    const output = (name) => result.outputs.find((o) => o.name === name).data;
    const probabilities = output("probabilities");
    const cls = output("class")[0];
    const names = models.find((m) => m.modelId === modelId)?.classNames || [];
    answer.textContent = `${names[cls] ?? cls} (${(100 * probabilities[cls]).toFixed(1)} %)`;
    Object.assign(answer.dataset, { class: cls, probabilities: JSON.stringify(probabilities), model: modelId });
    $("#digit-bars").replaceChildren(...probabilities.map((p, i) => bar(names[i] ?? i, p, i === cls)));
  } catch (error) {
    $("#digit-error").textContent = error.message;
  }
}

async function startJob(event, jobs) {
  event.preventDefault();
  const problem = $("#train-error");
  problem.textContent = "";
  try {
    const answer = await api("/api/v1/jobs", { method: "POST", body: trainRequest(event.target) });
    jobs.update(answer.status);
    jobs.select(answer.jobId);
  } catch (error) {
    problem.textContent = error.message;
  }
}

async function main() {
  const jobs = new Jobs($("#jobs"), () => loadModels());
  const [choices, version] = await Promise.all([api("/api/v1/choices"), loadJobs(jobs), loadModels(), loadDatasets()]);
  fillForm($("#train-form"), choices);
  $("#train-form").addEventListener("submit", (event) => startJob(event, jobs));
  const stream = $("#stream-state");
  followEvents(version, (type, data) => {
    if (type === "job") jobs.update(data);
    else if (type === "deleted") jobs.remove(data.jobId);
    else if (type === "resync") loadJobs(jobs);
  }, (state) => { stream.dataset.state = state; stream.textContent = state; });
  const pad = setupPad($("#digit-canvas"), () => classify(pad));
  $("#digit-clear").addEventListener("click", () => { pad.clear(); delete $("#digit-canvas").dataset.pixels; });
  $("#digit-model").addEventListener("change", () => classify(pad));
  document.body.dataset.ready = "true";
  performance.mark("dashboard-ready"); // every table and the form filled (bench/dashboard.py reads it)
}

main().catch((error) => {
  document.body.dataset.ready = "error";
  $("#server-info").textContent = `could not load: ${error.message}`;
});

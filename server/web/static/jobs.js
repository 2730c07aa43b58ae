// The jobs table (live from the event stream), the curves of the selected jobs, and the form.

import { api } from "./api.js";
import { drawChart } from "./chart.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const ENDED = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

export const stateOf = (job) => job.state.replace("JOB_STATE_", "");
const pct = (v) => (v === undefined || v === null ? "" : `${(100 * v).toFixed(2)} %`);
const num = (v, digits = 4) => (Number.isFinite(v) ? v.toFixed(digits) : "");
const network = (c) => `${c.hiddenSizes?.length ? c.hiddenSizes.join("-") : c.hiddenSize} ${c.activation}` +
  `${c.batchNorm ? " bn" : ""} · ${c.optimizer}`;

export class Jobs {
  constructor(table, onModelsChanged) {
    this.body = table.tBodies[0];
    this.jobs = new Map(); // jobId -> JobStatus JSON, as the API answers
    this.live = new Map(); // jobId -> [[fractional epoch, step loss]] seen on the stream
    this.selected = new Set();
    this.rows = new Map(); // jobId -> its <tr>
    this.onModelsChanged = onModelsChanged;
    this.body.addEventListener("click", (event) => this.clicked(event));
  }

  // Merge a page of the list (older pages append).
  load(list) {
    for (const job of list) this.jobs.set(job.jobId, job);
    if (!this.selected.size && list.length) this.selected.add(list[0].jobId);
    this.render();
  }

  reset(list) {
    this.jobs.clear();
    this.rows.clear();
    this.load(list);
  }

  // One `job` event: a job's new status.
  update(job) {
    const before = this.jobs.get(job.jobId);
    this.jobs.set(job.jobId, job);
    if (stateOf(job) === "RUNNING" && Number(job.totalIterations) > 0 && job.loss > 0) {
      const points = this.live.get(job.jobId) || [];
      points.push([(Number(job.iteration) / Number(job.totalIterations)) * job.totalEpochs, job.loss]);
      this.live.set(job.jobId, points);
    }
    if (before && stateOf(before) !== "SUCCEEDED" && stateOf(job) === "SUCCEEDED") this.onModelsChanged();
    this.render();
  }

  remove(jobId) {
    this.jobs.delete(jobId);
    this.rows.delete(jobId);
    this.selected.delete(jobId);
    this.render();
  }

  select(jobId) {
    this.selected.add(jobId);
    this.render();
  }

  async clicked(event) {
    const target = event.target;
    const jobId = target.closest("tr")?.dataset.jobId;
    if (!jobId) return;
    if (target.name === "show") {
      if (target.checked) this.selected.add(jobId); else this.selected.delete(jobId);
      this.renderCurves();
      return;
    }
    try {
      if (target.dataset.action === "cancel") this.update(await api(`/api/v1/jobs/${jobId}/cancel`, { method: "POST" }));
      if (target.dataset.action === "delete") {
        await api(`/api/v1/jobs/${jobId}`, { method: "DELETE" });
        this.remove(jobId);
      }
    } catch (error) {
      target.closest("tr").querySelector(".error").textContent = error.message;
    }
  }

  sorted() {
    return [...this.jobs.values()].sort((a, b) => (b.createTime || "").localeCompare(a.createTime || ""));
  }

  render() {
    const rows = this.sorted().map((job) => this.row(job));
    if (rows.some((row, i) => this.body.rows[i] !== row) || this.body.rows.length !== rows.length) {
      this.body.replaceChildren(...rows);
    }
    this.renderCurves();
  }

  // The job's row, made once and then updated in place: a button keeps working while events arrive.
  row(job) {
    let row = this.rows.get(job.jobId);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.jobId = job.jobId;
      row.innerHTML = `<td><input type="checkbox" name="show"></td><td class="title"></td><td class="network"></td>
        <td class="state"></td><td class="progress"><progress max="1"></progress> <span></span></td><td class="loss"></td>
        <td class="train"></td><td class="test"></td><td class="actions"></td>`;
      this.rows.set(job.jobId, row);
    }
    const state = stateOf(job);
    const last = job.history.at(-1) || {};
    const text = (selector, value) => { row.querySelector(selector).textContent = value; };
    row.dataset.state = state;
    row.querySelector("[name=show]").checked = this.selected.has(job.jobId);
    text(".title", job.name || job.jobId);
    row.querySelector(".title").title = job.error ? `${job.jobId}: ${job.error}` : job.jobId;
    text(".network", `${job.config.dataset} · ${network(job.config)}`);
    text(".state", state.toLowerCase() + (job.error ? ` (${job.error})` : ""));
    row.querySelector(".state").className = `state ${state.toLowerCase()}`;
    row.querySelector(".progress").dataset.progress = job.progress;
    row.querySelector("progress").value = job.progress;
    text(".progress span", `${job.epoch}/${job.totalEpochs}`);
    text(".loss", num(ENDED.has(state) ? last.loss : job.loss));
    text(".train", pct(last.trainAccuracy));
    text(".test", pct(last.testAccuracy));
    const action = ENDED.has(state) ? "delete" : "cancel";
    const actions = row.querySelector(".actions");
    if (actions.dataset.action !== action) {
      actions.dataset.action = action;
      actions.innerHTML = `<button data-action="${action}">${action}</button><span class="error"></span>`;
    }
    actions.querySelector("button").disabled = state === "CANCELLING";
    return row;
  }

  renderCurves() {
    const chosen = this.sorted().filter((job) => this.selected.has(job.jobId));
    const loss = [], accuracy = [];
    const legend = document.getElementById("legend");
    legend.replaceChildren();
    chosen.forEach((job, i) => {
      const color = COLORS[i % COLORS.length];
      const epochs = job.history;
      loss.push({ job: job.jobId, kind: "loss", color, points: epochs.map((e) => [e.epoch, e.loss]) });
      if (!ENDED.has(stateOf(job)) && this.live.has(job.jobId)) {
        loss.push({ job: job.jobId, kind: "step-loss", color, dash: "2 3", width: 1, points: this.live.get(job.jobId) });
      }
      accuracy.push({ job: job.jobId, kind: "test", color, points: epochs.map((e) => [e.epoch, e.testAccuracy]) });
      accuracy.push({ job: job.jobId, kind: "train", color, dash: "6 4", width: 1.5,
        points: epochs.map((e) => [e.epoch, e.trainAccuracy]) });
      const item = document.createElement("li");
      item.innerHTML = `<span class="swatch" style="background:${color}"></span>`;
      item.append(`${job.name || job.jobId} (${job.history.length} epochs)`);
      legend.append(item);
    });
    drawChart(document.getElementById("loss-chart"), loss, { yMin: 0 });
    drawChart(document.getElementById("accuracy-chart"), accuracy, { yMax: 1, format: (v) => `${Math.round(v * 100)}%` });
  }
}

// The form's choices and defaults from /api/v1/choices.
export function fillForm(form, choices) {
  const options = (select, values, chosen) => {
    select.replaceChildren(...values.map((v) => new Option(v, v, v === chosen, v === chosen)));
  };
  const d = choices.defaults;
  options(form.dataset, choices.datasets.map((s) => s.name), "mnist");
  options(form.activation, choices.activations, d.activation);
  options(form.weightInit, choices.weightInits, d.weightInit);
  options(form.optimizer, choices.optimizers, d.optimizer);
  options(form.lrSchedule, choices.lrSchedules, d.lrSchedule);
  form.hiddenSizes.value = d.hiddenSizes.join(",");
  form.epochs.value = d.epochs;
  form.epochs.max = choices.limits.maxEpochs;
  form.batchSize.value = d.batchSize;
  form.dropout.value = d.dropout;
  form.weightDecay.value = d.weightDecay;
  form.batchNorm.checked = d.batchNorm;
  const rate = () => { form.learningRate.placeholder = `${d.learningRates[form.optimizer.value]} (default)`; };
  form.optimizer.addEventListener("change", rate);
  rate();
}

// The TrainRequest JSON the form describes (empty fields are left to the server's defaults).
export function trainRequest(form) {
  const body = { name: form.name.value.trim(), dataset: form.dataset.value, activation: form.activation.value,
    weightInit: form.weightInit.value, optimizer: form.optimizer.value, lrSchedule: form.lrSchedule.value,
    batchNorm: form.batchNorm.checked };
  const sizes = form.hiddenSizes.value.split(/[\s,x-]+/).filter(Boolean);
  if (sizes.length) body.hiddenSizes = sizes.map(Number);
  for (const field of ["learningRate", "epochs", "batchSize", "trainSize", "dropout", "weightDecay", "seed"]) {
    const value = form[field].value.trim();
    if (value !== "") body[field] = Number(value);
  }
  return body;
}

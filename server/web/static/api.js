// The HTTP API with the bearer token (asked for on a 401, kept in sessionStorage), and the
// server-sent events of /api/v1/events read with fetch(), since EventSource cannot send headers.

const TOKEN_KEY = "nnservice-token";
let tokenWaiters = null; // one prompt for every request that met a 401 at the same time

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function askToken(problem) {
  // Resolves once the user gave a token; every caller waiting on it then retries.
  if (tokenWaiters) return tokenWaiters;
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  document.getElementById("token-error").textContent = problem;
  tokenWaiters = new Promise((resolve) => {
    form.addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, form.token.value.trim());
      form.token.value = "";
      tokenWaiters = null;
      resolve();
    }, { once: true });
  });
  if (!dialog.open) dialog.showModal();
  return tokenWaiters;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    return body.error || (body.detail ? JSON.stringify(body.detail) : response.statusText);
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// fetch with the token; a 401 asks for one and tries again. Answers JSON, throws ApiError.
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  for (;;) {
    const response = await fetch(path, {
      method,
      headers: { ...authHeaders(), ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      await askToken(await errorOf(response));
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, await errorOf(response));
    return response.json();
  }
}

// Parse one "event: …\nid: …\ndata: …" block; comments (heartbeats) give null.
function parseEvent(block) {
  const event = { type: "message", id: null, data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "id") event.id = value;
    else if (field === "data") event.data.push(value);
  }
  return event.data.length ? { ...event, data: JSON.parse(event.data.join("\n")) } : null;
}

// Follow /api/v1/events from feed version `since`, reconnecting with Last-Event-ID;
// onEvent(type, data), onState("live" | "reconnecting").
export function followEvents(since, onEvent, onState) {
  let lastId = since;
  let retry = 2000;
  const run = async () => {
    for (;;) {
      try {
        const response = await fetch("/api/v1/events", { headers: { ...authHeaders(), "Last-Event-ID": lastId } });
        if (response.status === 401) { await askToken(await errorOf(response)); continue; }
        if (!response.ok) throw new ApiError(response.status, await errorOf(response));
        onState("live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const retryLine = block.match(/^retry: (\d+)$/m);
            if (retryLine) retry = Number(retryLine[1]);
            const event = parseEvent(block);
            if (!event) continue;
            if (event.id !== null) lastId = event.id;
            onEvent(event.type, event.data);
          }
        }
      } catch (error) {
        console.warn("job events:", error.message);
      }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retry));
    }
  };
  run();
}

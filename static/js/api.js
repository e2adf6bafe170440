// REST calls (docs/protocol.md). Errors come back as {error: {field, message}}.

async function request(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || { field: null, message: `HTTP ${response.status}` };
    throw Object.assign(new Error(error.message), { field: error.field, status: response.status });
  }
  return data;
}

export const listScenarios = () => request("GET", "/api/scenarios").then((d) => d.scenarios);

// {scenario_file: name, xen} -> {id, seq, snapshot}
export const createSession = (body) => request("POST", "/api/sessions", body);

export const getEvents = (id, since = 0) =>
  request("GET", `/api/sessions/${encodeURIComponent(id)}/events?since=${since}`);

export const frameDetail = (id, host, mfn) =>
  request("GET", `/api/sessions/${encodeURIComponent(id)}/frames/${host}/${mfn}`);

export const exportUrl = (id) => `/api/sessions/${encodeURIComponent(id)}/export`;

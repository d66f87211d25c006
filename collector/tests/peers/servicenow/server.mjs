// A ServiceNow instance's Table API stand-in on loopback for the collector's ServiceNow integration test. ServiceNow
// publishes no machine-readable description of the Table API; this follows its reference ("Table API", REST API
// reference, Australia release, github.com/ServiceNow/ServiceNowDocs markdown/api-reference/rest-apis/c_TableAPI.md)
// and the base system's incident table: paths /api/now/table/{table}[/{sys_id}], basic authentication, JSON only
// (Accept and Content-Type), the documented sysparm_ parameters, answers under "result" and errors as
// {"error": {"message", "detail"}, "status": "failure"}, encoded queries of field=value conditions joined by ^ with
// ORDERBY/ORDERBYDESC, priority computed from impact and urgency by the base priority lookup, closed and canceled
// incidents read-only, and the incident data policy that a resolved incident has a resolution code and notes.
//
// Where a real instance is lenient it ignores unknown fields in a body or a query, which would hide a mistake: this
// one logs them as refusals so the test sees every field the collector sends is one the incident table has.
//
// Started by the test: prints {"port": N} on its first line. Control endpoints under /__test/ read the log and the
// incidents, make the next create lose its answer, and close or delete an incident as a ServiceNow user can.

import http from 'node:http';
import crypto from 'node:crypto';

const USER = process.env.SN_USER ?? 'muster.integration';
const PASSWORD = process.env.SN_PASSWORD ?? 'password';
const GROUP = { sys_id: '287ebd7da9fe198100f92cc8d1d2154e', name: 'Service Desk' };

// The incident fields a caller may write, with the base system's types and lengths.
const WRITABLE = {
  short_description: { type: 'string', max: 160 },
  description: { type: 'string', max: 4000 },
  impact: { type: 'choice', values: ['1', '2', '3'] },
  urgency: { type: 'choice', values: ['1', '2', '3'] },
  state: { type: 'choice', values: ['1', '2', '3', '6', '7', '8'] },
  correlation_id: { type: 'string', max: 100 },
  correlation_display: { type: 'string', max: 100 },
  assignment_group: { type: 'reference', table: 'sys_user_group' },
  close_code: {
    type: 'choice',
    values: [
      // Since the Utah release.
      'Duplicate', 'Known error', 'No resolution provided', 'Resolved by caller', 'Resolved by change',
      'Resolved by problem', 'Resolved by request', 'Solution provided', 'Workaround provided', 'User error',
      // Before it, still on upgraded instances.
      'Solved (Work Around)', 'Solved (Permanently)', 'Solved Remotely (Work Around)',
      'Solved Remotely (Permanently)', 'Not Solved (Not Reproducible)', 'Not Solved (Too Costly)',
      'Closed/Resolved by Caller',
    ],
  },
  close_notes: { type: 'string', max: 4000 },
  work_notes: { type: 'journal' },
  comments: { type: 'journal' },
};
const READABLE = new Set([...Object.keys(WRITABLE), 'sys_id', 'number', 'priority', 'active', 'sys_created_on']);
const QUERY_PARAMS = new Set(['sysparm_query', 'sysparm_fields', 'sysparm_limit', 'sysparm_offset',
  'sysparm_display_value', 'sysparm_exclude_reference_link', 'sysparm_no_count', 'sysparm_view',
  'sysparm_suppress_pagination_header', 'sysparm_input_display_value', 'sysparm_suppress_auto_sys_field']);

// The base system's priority lookup from impact and urgency.
function priorityOf(impact, urgency) {
  const sum = Number(impact) + Number(urgency);
  return String(Math.min(5, sum - 1));
}

const log = [];
const errors = [];
const incidents = new Map();
let next = 10001;
let loseNextCreate = false;

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function refuse(res, entry, status, message, detail) {
  entry.refused = { status, message, detail };
  errors.push({ method: entry.method, path: entry.path, status, message, detail });
  send(res, status, { error: { message, detail }, status: 'failure' });
}

// A mistake a real instance would pass over silently: logged, and the request still answered as the instance would.
function lenient(entry, message) {
  errors.push({ method: entry.method, path: entry.path, status: 'ignored', message });
}

function view(incident, fields) {
  const wanted = fields ? fields.split(',').map((f) => f.trim()).filter(Boolean) : [...READABLE];
  const out = {};
  for (const f of wanted) {
    if (f in incident) out[f] = incident[f];
  }
  return out;
}

function checkFields(entry, query) {
  for (const f of (query.get('sysparm_fields') ?? '').split(',').filter(Boolean)) {
    if (!READABLE.has(f)) lenient(entry, `sysparm_fields: no field ${f} on incident`);
  }
}

// Encoded query: conditions field=value joined by ^, ORDERBY/ORDERBYDESC clauses.
function parseQuery(entry, text) {
  const conditions = [];
  let order = null;
  for (const part of text.split('^').filter(Boolean)) {
    if (part.startsWith('ORDERBYDESC')) order = { field: part.slice(11), desc: true };
    else if (part.startsWith('ORDERBY')) order = { field: part.slice(7), desc: false };
    else {
      const m = /^([a-z_]+)=(.*)$/.exec(part);
      if (!m || !READABLE.has(m[1])) {
        lenient(entry, `sysparm_query: "${part}" is not a condition on the incident table`);
        continue;
      }
      conditions.push([m[1], m[2]]);
    }
  }
  return { conditions, order };
}

function checkBody(res, entry, body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    refuse(res, entry, 400, 'Exception while reading request', 'The payload is not valid JSON.');
    return false;
  }
  for (const [name, value] of Object.entries(body)) {
    const field = WRITABLE[name];
    if (!field) {
      lenient(entry, `no writable field ${name} on incident: a real instance ignores it`);
      continue;
    }
    if (typeof value !== 'string') {
      refuse(res, entry, 400, 'Invalid value', `${name}: the Table API takes field values as strings`);
      return false;
    }
    if (field.type === 'string' && value.length > field.max) {
      refuse(res, entry, 400, 'Invalid value', `${name}: longer than its ${field.max} characters`);
      return false;
    }
    // A real instance stores an unknown choice or reference as given, silently: logged here.
    if (field.type === 'choice' && !field.values.includes(value)) {
      lenient(entry, `${name}: ${JSON.stringify(value)} is not one of its choices: a real instance stores it anyway`);
    }
    if (field.type === 'reference' && value !== GROUP.sys_id) {
      lenient(entry, `${name}: no ${field.table} record ${value}: a real instance stores it anyway`);
    }
  }
  return true;
}

function journal(incident, body) {
  for (const kind of ['work_notes', 'comments']) {
    if (body[kind]) incident.journal.push({ kind, text: body[kind] });
  }
}

// The incident data policy and state model: resolved needs a code and notes; closed and canceled are final.
function applyState(res, entry, incident, body) {
  const state = body.state ?? incident.state;
  const code = body.close_code ?? incident.close_code;
  const notes = body.close_notes ?? incident.close_notes;
  if ((state === '6' || state === '7') && (!code || !notes)) {
    refuse(res, entry, 403, 'Operation Failed',
      'Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes');
    return false;
  }
  return true;
}

function handle(req, res, entry, url, body) {
  const auth = req.headers.authorization ?? '';
  const expected = 'Basic ' + Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  if (auth !== expected) {
    return refuse(res, entry, 401, 'User Not Authenticated', 'Required to provide Auth information');
  }
  const accept = req.headers.accept ?? 'application/json';
  if (!accept.includes('application/json') && !accept.includes('*/*')) {
    return refuse(res, entry, 406, 'Not Acceptable', `Accept ${accept}: this client takes JSON`);
  }
  for (const name of url.searchParams.keys()) {
    if (name.startsWith('sysparm_') && !QUERY_PARAMS.has(name)) lenient(entry, `unknown parameter ${name}`);
  }
  const m = /^\/api\/now\/table\/([a-z_]+)(?:\/([0-9a-f]{32}))?$/.exec(url.pathname);
  if (!m) return refuse(res, entry, 400, 'Requested URI does not represent any resource', url.pathname);
  const [, table, sysId] = m;
  if (table === 'sys_user_group') {
    if (req.method !== 'GET' || !sysId) return refuse(res, entry, 405, 'Method not Supported', req.method);
    if (sysId !== GROUP.sys_id) {
      return refuse(res, entry, 404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
    }
    return send(res, 200, { result: GROUP });
  }
  if (table !== 'incident') return refuse(res, entry, 400, 'Invalid table', table);
  checkFields(entry, url.searchParams);
  const fields = url.searchParams.get('sysparm_fields');
  if (['POST', 'PATCH', 'PUT'].includes(req.method) && !(req.headers['content-type'] ?? '').includes('application/json')) {
    return refuse(res, entry, 415, 'Unsupported Media Type', 'Content-Type: application/json');
  }
  if (req.method === 'GET' && !sysId) {
    const { conditions, order } = parseQuery(entry, url.searchParams.get('sysparm_query') ?? '');
    let rows = [...incidents.values()].filter((i) => conditions.every(([f, v]) => String(i[f]) === v));
    if (order) rows.sort((a, b) => (a[order.field] < b[order.field] ? -1 : 1) * (order.desc ? -1 : 1));
    const limit = Number(url.searchParams.get('sysparm_limit') ?? 10000);
    const result = rows.slice(0, limit).map((i) => view(i, fields));
    return send(res, 200, { result }, { 'x-total-count': String(rows.length) });
  }
  if (req.method === 'POST' && !sysId) {
    if (!checkBody(res, entry, body)) return;
    if (!body.short_description) {
      return refuse(res, entry, 403, 'Operation Failed',
        'Data Policy Exception: The following fields are mandatory: Short description');
    }
    if (body.state !== undefined && body.state !== '1') {
      return refuse(res, entry, 400, 'Invalid value', 'a new incident starts in state 1 (New)');
    }
    const incident = {
      sys_id: crypto.randomBytes(16).toString('hex'), number: `INC00${next++}`, state: '1', active: 'true',
      impact: '3', urgency: '3', sys_created_on: new Date(Date.now() + next).toISOString(), journal: [],
    };
    for (const [k, v] of Object.entries(body)) if (WRITABLE[k] && WRITABLE[k].type !== 'journal') incident[k] = v;
    incident.priority = priorityOf(incident.impact, incident.urgency);
    journal(incident, body);
    incidents.set(incident.sys_id, incident);
    entry.created = incident.number;
    if (loseNextCreate) {
      loseNextCreate = false;
      req.socket.destroy();
      return;
    }
    return send(res, 201, { result: view(incident, fields) });
  }
  if (!sysId) return refuse(res, entry, 405, 'Method not Supported', req.method);
  const incident = incidents.get(sysId);
  if (!incident) {
    return refuse(res, entry, 404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
  }
  if (req.method === 'GET') return send(res, 200, { result: view(incident, fields) });
  if (req.method === 'PATCH' || req.method === 'PUT') {
    if (!checkBody(res, entry, body)) return;
    if (incident.state === '7' || incident.state === '8') {
      return refuse(res, entry, 403, 'Operation Failed', 'ACL Exception Update Failed due to security constraints');
    }
    if (!applyState(res, entry, incident, body)) return;
    for (const [k, v] of Object.entries(body)) if (WRITABLE[k] && WRITABLE[k].type !== 'journal') incident[k] = v;
    if (body.state) incident.states = [...(incident.states ?? []), body.state];
    incident.priority = priorityOf(incident.impact, incident.urgency);
    incident.active = incident.state === '7' || incident.state === '8' ? 'false' : 'true';
    journal(incident, body);
    return send(res, 200, { result: view(incident, fields) });
  }
  return refuse(res, entry, 405, 'Method not Supported', req.method);
}

function control(url, res) {
  switch (url.pathname) {
    case '/__test/log':
      return send(res, 200, { requests: log, errors });
    case '/__test/incidents':
      return send(res, 200, [...incidents.values()]);
    case '/__test/lose-next-create':
      loseNextCreate = true;
      return send(res, 200, {});
    case '/__test/close': {
      const found = [...incidents.values()].find((i) => i.number === url.searchParams.get('number'));
      if (found) Object.assign(found, { state: '7', active: 'false' });
      return send(res, found ? 200 : 404, {});
    }
    case '/__test/delete': {
      const found = [...incidents.values()].find((i) => i.number === url.searchParams.get('number'));
      if (found) incidents.delete(found.sys_id);
      return send(res, found ? 200 : 404, {});
    }
    default:
      return send(res, 404, {});
  }
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname.startsWith('/__test/')) return control(url, res);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const entry = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams) };
    log.push(entry);
    let body;
    if (chunks.length) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return refuse(res, entry, 400, 'Exception while reading request', 'The payload is not valid JSON.');
      }
      entry.body = body;
    }
    handle(req, res, entry, url, body);
  });
});

server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});

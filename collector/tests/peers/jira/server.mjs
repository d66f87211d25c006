// A Jira Cloud (REST API v3) stand-in on loopback for the collector's Jira integration test. It answers the calls
// the collector makes as Jira documents them, and checks every request the way Jira would: the body against
// jira.js's request schemas (generated from Atlassian's published v3 OpenAPI description), rich text against
// Atlassian's own ADF validator (@atlaskit/adf-utils), and the field rules Jira enforces on create (project and
// issue type exist, summary at most 255 characters on one line, labels without spaces, a known priority, no field
// the create screen lacks). A refused request gets Jira's error shape (errorMessages, errors) and is logged.
//
// Started by the test: prints {"port": N} on its first line. Control endpoints under /__test/ read the log and
// the issues, make the next create lose its answer (Jira made the issue; the collector never heard), and delete a
// ticket as a Jira user can.

import http from 'node:http';
// Parameter schemas are not among the package's exports; they are read from its files.
import { CreateIssueSchema } from './node_modules/jira.js/dist/cloud/parameters/createIssue.js';
import { AddCommentSchema } from './node_modules/jira.js/dist/cloud/parameters/addComment.js';
import { DoTransitionSchema } from './node_modules/jira.js/dist/cloud/parameters/doTransition.js';
import { SearchAndReconsileIssuesUsingJqlSchema } from './node_modules/jira.js/dist/cloud/parameters/searchAndReconsileIssuesUsingJql.js';
import adf from '@atlaskit/adf-utils/dist/cjs/validator/validator.js';

const USER = process.env.JIRA_USER ?? 'muster@example.com';
const TOKEN = process.env.JIRA_TOKEN ?? 'token';
const PROJECT = { id: '10000', key: 'SEC', name: 'Security' };
const ISSUE_TYPES = [{ id: '10001', name: 'Task' }, { id: '10002', name: 'Bug' }];
const PRIORITIES = ['Highest', 'High', 'Medium', 'Low', 'Lowest'];
// Fields on the project's create screen; anything else is refused as Jira refuses it.
const CREATE_SCREEN = new Set(['project', 'issuetype', 'summary', 'description', 'labels', 'priority']);
// Jira Software's simplified workflow: every status reachable from every other.
const STATUSES = [
  { id: '11', name: 'To Do', category: 'new' },
  { id: '21', name: 'In Progress', category: 'indeterminate' },
  { id: '31', name: 'Done', category: 'done' },
];

const log = [];
const errors = [];
const issues = new Map();
let next = 1;
let loseNextCreate = false;

// Atlassian's validator also checks feature gates it cannot reach here; those notices are not verdicts.
console.error = () => {};
const validateAdf = (adf.validator ?? adf.default?.validator)();

function adfErrors(doc) {
  const found = [];
  try {
    validateAdf(doc, (entity, error) => {
      found.push(`${error.code}: ${error.message}`);
      return entity;
    });
  } catch (e) {
    found.push(String(e.message ?? e));
  }
  return found;
}

function schemaErrors(schema, value) {
  const r = schema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

function refuse(res, status, entry, errorMessages, fieldErrors = {}) {
  entry.refused = { status, errorMessages, errors: fieldErrors };
  errors.push({ method: entry.method, path: entry.path, status, errorMessages, errors: fieldErrors });
  send(res, status, { errorMessages, errors: fieldErrors });
}

function issueJson(issue) {
  const status = STATUSES.find((s) => s.id === issue.status);
  return { id: issue.id, key: issue.key, self: `/rest/api/3/issue/${issue.id}`,
    fields: { summary: issue.summary, labels: issue.labels, status: { name: status.name } } };
}

function createIssue(req, res, entry, body) {
  const problems = schemaErrors(CreateIssueSchema, body);
  if (problems.length) return refuse(res, 400, entry, problems);
  const f = body.fields ?? {};
  const fieldErrors = {};
  for (const name of Object.keys(f)) {
    if (!CREATE_SCREEN.has(name)) {
      fieldErrors[name] = `Field '${name}' cannot be set. It is not on the appropriate screen, or unknown.`;
    }
  }
  if (f.project?.key !== PROJECT.key && f.project?.id !== PROJECT.id) fieldErrors.project = 'valid project is required';
  const type = ISSUE_TYPES.find((t) => t.name === f.issuetype?.name || t.id === f.issuetype?.id);
  if (!type) fieldErrors.issuetype = 'Specify a valid issue type';
  if (typeof f.summary !== 'string' || f.summary.trim() === '') fieldErrors.summary = 'You must specify a summary of the issue.';
  else if (f.summary.length > 255) fieldErrors.summary = 'Summary must be less than 255 characters.';
  else if (/[\r\n]/.test(f.summary)) fieldErrors.summary = 'The summary is invalid because it contains newline characters.';
  if (f.description !== undefined) {
    const bad = adfErrors(f.description);
    if (bad.length) fieldErrors.description = `Operation value must be an Atlassian Document (${bad.join('; ')})`;
  }
  if (f.labels !== undefined) {
    if (!Array.isArray(f.labels)) fieldErrors.labels = 'labels is an array';
    else {
      const spaced = f.labels.find((l) => typeof l !== 'string' || /\s/.test(l) || l.length > 255);
      if (spaced !== undefined) fieldErrors.labels = `The label '${spaced}' contains spaces which is invalid.`;
    }
  }
  if (f.priority !== undefined && !PRIORITIES.includes(f.priority?.name)) {
    fieldErrors.priority = `Specify a valid priority (one of ${PRIORITIES.join(', ')})`;
  }
  if (Object.keys(fieldErrors).length) return refuse(res, 400, entry, [], fieldErrors);
  const id = String(10000 + next);
  const key = `${PROJECT.key}-${next++}`;
  issues.set(key, { id, key, summary: f.summary, labels: f.labels ?? [], priority: f.priority?.name ?? null,
    issuetype: type.name, description: f.description ?? null, status: '11', comments: [], transitions: [] });
  entry.created = key;
  if (loseNextCreate) {
    loseNextCreate = false;
    // The issue exists, but the answer never arrives: the connection drops.
    req.socket.destroy();
    return;
  }
  send(res, 201, { id, key, self: `http://${req.headers.host}/rest/api/3/issue/${id}` });
}

function search(res, entry, url) {
  const params = { jql: url.searchParams.get('jql') ?? undefined,
    maxResults: url.searchParams.has('maxResults') ? Number(url.searchParams.get('maxResults')) : undefined,
    fields: url.searchParams.has('fields') ? url.searchParams.get('fields').split(',') : undefined };
  const problems = schemaErrors(SearchAndReconsileIssuesUsingJqlSchema, params);
  if (problems.length) return refuse(res, 400, entry, problems);
  // The one query the collector asks: the issue of a project that carries a label.
  const m = /^project\s*=\s*"([^"]+)"\s+AND\s+labels\s*=\s*"([^"\s]+)"$/.exec(params.jql ?? '');
  if (!m) return refuse(res, 400, entry, [`Error in the JQL Query: ${params.jql}`]);
  if (m[1] !== PROJECT.key) {
    return refuse(res, 400, entry, [`The value '${m[1]}' does not exist for the field 'project'.`]);
  }
  const found = [...issues.values()].filter((i) => i.labels.includes(m[2]));
  send(res, 200, { issues: found.slice(0, params.maxResults ?? 50).map(issueJson), isLast: true });
}

// The simplified workflow's transitions from an issue's status: to every other status.
function offered(issue) {
  return STATUSES.filter((s) => s.id !== issue.status).map((s) => ({ id: s.id, name: s.name,
    to: { id: s.id, name: s.name, statusCategory: { key: s.category } } }));
}

function withIssue(res, entry, key, then) {
  const issue = issues.get(key);
  if (!issue) return refuse(res, 404, entry, ['Issue does not exist or you do not have permission to see it.']);
  return then(issue);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  let raw = '';
  for await (const chunk of req) raw += chunk;
  if (url.pathname.startsWith('/__test/')) {
    if (url.pathname === '/__test/log') return send(res, 200, { requests: log, errors });
    if (url.pathname === '/__test/issues') return send(res, 200, [...issues.values()]);
    if (url.pathname === '/__test/lose-next-create') { loseNextCreate = true; return send(res, 200, {}); }
    // Someone deletes a ticket in Jira.
    if (url.pathname === '/__test/delete') { issues.delete(url.searchParams.get('key')); return send(res, 200, {}); }
    return send(res, 404, {});
  }
  let body;
  if (raw !== '') {
    try { body = JSON.parse(raw); } catch { body = raw; }
  }
  const entry = { method: req.method, path: url.pathname, query: url.search, body };
  log.push(entry);
  const expected = 'Basic ' + Buffer.from(`${USER}:${TOKEN}`).toString('base64');
  if (req.headers.authorization !== expected) {
    return refuse(res, 401, entry, ['You are not authenticated. Authentication required to perform this operation.']);
  }
  if (body !== undefined && !String(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return refuse(res, 415, entry, ['Unsupported media type']);
  }
  const route = `${req.method} ${url.pathname}`;
  let m;
  if (route === 'GET /rest/api/3/myself') {
    return send(res, 200, { accountId: '5b10ac8d82e05b22cc7d4ef5', emailAddress: USER, displayName: 'Muster', active: true });
  }
  if ((m = /^GET \/rest\/api\/3\/project\/([^/]+)$/.exec(route))) {
    if (m[1] !== PROJECT.key && m[1] !== PROJECT.id) {
      return refuse(res, 404, entry, [`No project could be found with key '${m[1]}'.`]);
    }
    return send(res, 200, { ...PROJECT, issueTypes: ISSUE_TYPES });
  }
  if (route === 'GET /rest/api/3/search/jql') return search(res, entry, url);
  if (route === 'POST /rest/api/3/issue') return createIssue(req, res, entry, body);
  if ((m = /^POST \/rest\/api\/3\/issue\/([^/]+)\/comment$/.exec(route))) {
    const problems = schemaErrors(AddCommentSchema, { ...(body ?? {}), issueIdOrKey: m[1] });
    const bad = body?.body === undefined ? ['Comment body can not be empty!'] : adfErrors(body.body);
    if (problems.length || bad.length) return refuse(res, 400, entry, [...problems, ...bad]);
    return withIssue(res, entry, m[1], (issue) => {
      issue.comments.push(body.body);
      send(res, 201, { id: String(issue.comments.length), body: body.body });
    });
  }
  if ((m = /^GET \/rest\/api\/3\/issue\/([^/]+)$/.exec(route))) {
    // Get issue: `fields` narrows the fields, `expand=transitions` adds the transitions offered from its status.
    return withIssue(res, entry, m[1], (issue) => {
      const status = STATUSES.find((s) => s.id === issue.status);
      const wanted = url.searchParams.get('fields')?.split(',');
      const all = { summary: issue.summary, labels: issue.labels,
        status: { id: status.id, name: status.name, statusCategory: { key: status.category } } };
      const fields = wanted ? Object.fromEntries(Object.entries(all).filter(([k]) => wanted.includes(k))) : all;
      const out = { id: issue.id, key: issue.key, fields };
      if ((url.searchParams.get('expand') ?? '').split(',').includes('transitions')) out.transitions = offered(issue);
      send(res, 200, out);
    });
  }
  if ((m = /^GET \/rest\/api\/3\/issue\/([^/]+)\/transitions$/.exec(route))) {
    return withIssue(res, entry, m[1], (issue) => send(res, 200, { transitions: offered(issue) }));
  }
  if ((m = /^POST \/rest\/api\/3\/issue\/([^/]+)\/transitions$/.exec(route))) {
    const problems = schemaErrors(DoTransitionSchema, { ...(body ?? {}), issueIdOrKey: m[1] });
    if (problems.length) return refuse(res, 400, entry, problems);
    return withIssue(res, entry, m[1], (issue) => {
      const to = STATUSES.find((s) => s.id === body?.transition?.id && s.id !== issue.status);
      if (!to) return refuse(res, 400, entry, [`Transition id '${body?.transition?.id}' is not valid for this issue.`]);
      issue.status = to.id;
      issue.transitions.push(to.name);
      send(res, 204);
    });
  }
  return refuse(res, 404, entry, [`No such endpoint: ${route}`]);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => send(res, 500, { errorMessages: [String(e)] }));
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});

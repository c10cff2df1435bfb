// The MemRL operator console (docs/console.md). Plain DOM: every value is placed with textContent or an attribute, never
// parsed as HTML, so memory text (which agents write) cannot run script here; the server's Content-Security-Policy
// forbids inline script besides. The key lives in sessionStorage and goes only into fetch's Authorization header.

interface Distribution { count: number; mean: number; min: number; max: number; p50: number; p90: number; p99: number; edges: number[]; counts: number[]; }
interface BankStats { keys: number; memories: number; qMean: number; qMin: number; qMax: number; coverage: Coverage; qDistribution: Distribution; visitsDistribution: Distribution; }
interface Coverage { shardsAnswered: number; shardsTotal: number; }
interface BankUsage { name: string; memories: number; textBytes: number; }
interface Latency { count: number; p50Ms: number; p90Ms: number; maxMs: number; }
interface RewardBucket { start: string; count: number; successes: number; sum: number; }
interface MemoryBrief { id: string; q: number; visits: number; success: boolean; lastReward: number | null; intentText: string; }
interface HistoryEntry { kind: number; ordinal: number; reward: number | null; at: string; recallId: string | null; q: number; visits: number; }
interface HistoryPage { entries: HistoryEntry[]; nextCursor: number | null; }
interface ShardInsight { shard: number; silo: string; activeSince: string; keys: number; memories: number; successMemories: number; search: Latency; rewards: RewardBucket[]; }
interface BankInsight { shards: ShardInsight[]; coverage: Coverage; bucketSeconds: number; rewards: RewardBucket[]; best: MemoryBrief[]; worst: MemoryBrief[]; asOf: string; }
interface Candidate { id: string; similarity: number; q: number; zSim: number; zQ: number; score: number; success: boolean; rank: number | null; verdict: string; reason: string; intentText: string; experience: string; }
interface Explanation { pool: Candidate[]; coverage: Coverage; k1: number; k2: number; lambda: number; delta: number; qMin: number | null; epsilon: number; keysMatched: number; similarityMean: number; similarityStdDev: number; qMean: number; qStdDev: number; similarityNormalization: string; }
interface Problem { title?: string; detail?: string; field?: string; expected?: string; actual?: string; }

const KeyStorage = "memrl-console-key";
const RefreshMs = 5000;
// Rolling window of the success share, in buckets (15 × 2 s = 30 s).
const RollingBuckets = 15;
const SvgNs = "http://www.w3.org/2000/svg";

let refreshTimer: number | undefined;

/** Numbers as the console prints them: integers whole, others to 4 decimals (the browser test reads them back). */
export function fmt(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number.isInteger(value) ? String(value) : value.toFixed(4);
}

function pct(part: number, whole: number): string {
  return whole === 0 ? "–" : `${(100 * part / whole).toFixed(1)} %`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child); // strings become text nodes: never markup
  return node;
}

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SvgNs, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`The page has no element #${id}.`);
  return node;
}

// ---- the key ----------------------------------------------------------------------------------------------------

/** Takes a key from the fragment (never sent to the server) into this tab's storage, and removes it from the address bar. */
function adoptKeyFromFragment(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get("key");
  if (key) {
    sessionStorage.setItem(KeyStorage, key);
    params.delete("key");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
}

function currentKey(): string | null {
  return sessionStorage.getItem(KeyStorage);
}

class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(`${status} ${problem.title ?? ""}: ${problem.detail ?? ""}`);
  }
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const key = currentKey();
  if (!key) throw new ApiError(401, { title: "No key", detail: "Give an API key first." });
  const init: RequestInit = { method, headers: { Authorization: `Bearer ${key}`, Accept: "application/json" }, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let problem: Problem = {};
    try { problem = await response.json() as Problem; } catch { problem = { title: response.statusText }; }
    throw new ApiError(response.status, problem);
  }
  return await response.json() as T;
}

function showError(error: unknown): void {
  const box = byId("error");
  if (error instanceof ApiError) {
    const p = error.problem;
    const lines = [`${error.status} ${p.title ?? ""}`, p.detail ?? ""];
    if (p.field) lines.push(`field: ${p.field}; expected: ${p.expected ?? "?"}; actual: ${p.actual ?? "?"}`);
    box.textContent = lines.filter(l => l).join("\n");
    if (error.status === 401) {
      sessionStorage.removeItem(KeyStorage);
      showKeyForm();
    }
  } else {
    box.textContent = String(error);
  }
  box.hidden = false;
}

function clearError(): void {
  const box = byId("error");
  box.hidden = true;
  box.textContent = "";
}

function showKeyForm(): void {
  byId("key-form").hidden = false;
  byId("forget-key").hidden = true;
  byId("view").replaceChildren();
}

// ---- routing ----------------------------------------------------------------------------------------------------

function route(): URLSearchParams {
  return new URLSearchParams(location.hash.slice(1));
}

async function render(): Promise<void> {
  window.clearTimeout(refreshTimer);
  clearError();
  if (!currentKey()) {
    showKeyForm();
    document.body.setAttribute("data-state", "key-needed");
    return;
  }
  byId("key-form").hidden = true;
  byId("forget-key").hidden = false;
  const params = route();
  const bank = params.get("bank");
  // data-state tells a reader (the browser test, the screenshot script) that the view is complete.
  document.body.setAttribute("data-state", "loading");
  try {
    if (bank) await renderBank(bank, params.get("q"));
    else await renderBanks();
    document.body.setAttribute("data-state", "ready");
  } catch (error) {
    showError(error);
    document.body.setAttribute("data-state", "error");
  }
}

// ---- banks ------------------------------------------------------------------------------------------------------

async function renderBanks(): Promise<void> {
  const list = await api<{ banks: BankUsage[] }>("GET", "/v1/banks");
  const rows = list.banks.map(b => {
    const link = el("a", { href: `#bank=${encodeURIComponent(b.name)}` }, b.name);
    return el("tr", { "data-bank": b.name },
      el("td", {}, link),
      el("td", { class: "num", "data-field": "memories" }, fmt(b.memories)),
      el("td", { class: "num", "data-field": "keys" }, "…"),
      el("td", { class: "num", "data-field": "qMean" }, "…"),
      el("td", { class: "num", "data-field": "textBytes" }, fmt(b.textBytes)));
  });
  const table = el("table", { id: "banks" },
    el("thead", {}, el("tr", {}, el("th", {}, "bank"), el("th", { class: "num" }, "memories"), el("th", { class: "num" }, "keys"),
      el("th", { class: "num" }, "mean Q"), el("th", { class: "num" }, "text bytes"))),
    el("tbody", {}, ...rows));
  byId("view").replaceChildren(el("h2", {}, `Banks (${list.banks.length})`),
    list.banks.length === 0 ? el("p", { class: "muted" }, "This tenant has no banks yet.") : table);
  // Key counts come from each bank's stats (the listing reads the store only); fetched after the table is up.
  await Promise.all(list.banks.map(async b => {
    const row = table.querySelector(`tr[data-bank="${CSS.escape(b.name)}"]`);
    try {
      const stats = await api<BankStats>("GET", `/v1/banks/${encodeURIComponent(b.name)}/stats`);
      row?.querySelector('[data-field="keys"]')?.replaceChildren(fmt(stats.keys));
      row?.querySelector('[data-field="memories"]')?.replaceChildren(fmt(stats.memories));
      row?.querySelector('[data-field="qMean"]')?.replaceChildren(stats.memories === 0 ? "–" : fmt(stats.qMean));
    } catch {
      row?.querySelector('[data-field="keys"]')?.replaceChildren("?");
    }
  }));
}

// ---- one bank ---------------------------------------------------------------------------------------------------

function card(label: string, value: string, field: string): HTMLElement {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value", "data-stat": field }, value));
}

function histogram(d: Distribution, id: string, label: string): SVGElement {
  const width = 420, height = 140, pad = 24;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id, role: "img", "aria-label": label });
  const max = Math.max(1, ...d.counts);
  const barWidth = d.counts.length === 0 ? 0 : (width - 2 * pad) / d.counts.length;
  d.counts.forEach((count, i) => {
    const h = (height - 2 * pad) * count / max;
    const bar = svg("rect", { class: "bar", x: pad + i * barWidth, y: height - pad - h, width: Math.max(1, barWidth - 1), height: h,
      "data-bin": i, "data-count": count, "data-from": d.edges[i] ?? 0, "data-to": d.edges[i + 1] ?? 0 });
    const tip = svg("title", {});
    tip.textContent = `[${fmt(d.edges[i])}, ${fmt(d.edges[i + 1])}): ${count}`;
    bar.append(tip);
    chart.append(bar);
  });
  chart.append(svg("line", { class: "axis", x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }));
  const left = svg("text", { x: pad, y: height - 6 });
  left.textContent = fmt(d.edges[0]);
  const right = svg("text", { x: width - pad, y: height - 6, "text-anchor": "end" });
  right.textContent = fmt(d.edges[d.edges.length - 1]);
  const top = svg("text", { x: 2, y: pad - 6 });
  top.textContent = `max ${max}`;
  chart.append(left, right, top);
  return chart;
}

/** Rolling success share per bucket over the last RollingBuckets buckets (gaps count as no rewards). */
export function rollingShare(buckets: RewardBucket[], bucketSeconds: number): { start: number; share: number; count: number }[] {
  if (buckets.length === 0) return [];
  const first = Date.parse(buckets[0]!.start), last = Date.parse(buckets[buckets.length - 1]!.start);
  const byStart = new Map(buckets.map(b => [Date.parse(b.start), b]));
  const out: { start: number; share: number; count: number }[] = [];
  for (let t = first; t <= last; t += bucketSeconds * 1000) {
    let count = 0, successes = 0;
    for (let k = 0; k < RollingBuckets; k++) {
      const b = byStart.get(t - k * bucketSeconds * 1000);
      if (b) { count += b.count; successes += b.successes; }
    }
    out.push({ start: t, share: count === 0 ? NaN : successes / count, count: byStart.get(t)?.count ?? 0 });
  }
  return out;
}

function rewardChart(insight: BankInsight): SVGElement {
  const width = 420, height = 140, pad = 24;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "reward-chart", role: "img", "aria-label": "rolling success share" });
  const points = rollingShare(insight.rewards, insight.bucketSeconds);
  const maxCount = Math.max(1, ...points.map(p => p.count));
  // One band per bucket: the bar fills it, the line passes through its middle.
  const band = points.length === 0 ? 0 : (width - 2 * pad) / points.length;
  let path = "";
  points.forEach((p, i) => {
    const x = pad + (i + 0.5) * band;
    const h = (height - 2 * pad) * p.count / maxCount;
    chart.append(svg("rect", { class: "count", x: pad + i * band, y: height - pad - h, width: Math.max(1, band - 1), height: h,
      "data-start": new Date(p.start).toISOString(), "data-count": p.count }));
    if (!Number.isNaN(p.share)) {
      const y = height - pad - (height - 2 * pad) * p.share;
      path += `${path === "" ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`;
    }
  });
  chart.append(svg("path", { class: "line", d: path }));
  const lastPoint = points[points.length - 1];
  if (lastPoint && !Number.isNaN(lastPoint.share)) {
    // The newest share as a dot too: a single bucket draws no line.
    chart.append(svg("circle", { class: "dot", cx: pad + (points.length - 0.5) * band, cy: height - pad - (height - 2 * pad) * lastPoint.share, r: 3 }));
  }
  chart.append(svg("line", { class: "axis", x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }));
  const top = svg("text", { x: 2, y: pad - 6 });
  top.textContent = "100 %";
  const bottom = svg("text", { x: 2, y: height - pad + 12 });
  bottom.textContent = points.length === 0 ? "no rewards yet" : `${insight.bucketSeconds} s buckets; line: success share over ${RollingBuckets * insight.bucketSeconds} s`;
  chart.append(top, bottom);
  return chart;
}

// History entries shown per memory in the best/worst tables (the endpoint keeps up to 256).
const HistoryShown = 5;

// What the other history kinds did (docs/history.md); a kind this console does not know is shown by its number.
const ChangeNames: Record<number, string> = { 2: "edited", 3: "archived", 4: "restored" };

// Each reward's value and time as text (el appends strings as text nodes), each other entry its name and time; the
// exact values ride in data attributes.
function historyCell(entries: HistoryEntry[] | undefined): HTMLElement {
  if (!entries) return el("td", { "data-field": "history" }, "–");
  return el("td", { "data-field": "history" }, ...entries.map(e => e.kind === 1
    ? el("span", { class: "reward", "data-reward": String(e.reward), "data-at": e.at, title: e.at },
      `${fmt(e.reward)} @ ${new Date(e.at).toLocaleTimeString()} `)
    : el("span", { class: "change", "data-kind": String(e.kind), "data-at": e.at, title: e.at },
      `${ChangeNames[e.kind] ?? `kind ${e.kind}`} @ ${new Date(e.at).toLocaleTimeString()} `)));
}

function memoryTable(id: string, memories: MemoryBrief[], histories: Map<string, HistoryEntry[]>): HTMLElement {
  return el("table", { id },
    el("thead", {}, el("tr", {}, el("th", { class: "num" }, "Q"), el("th", { class: "num" }, "visits"), el("th", {}, "success"),
      el("th", { class: "num" }, "last reward"), el("th", {}, "recent history"), el("th", {}, "intent"))),
    el("tbody", {}, ...memories.map(m => el("tr", { "data-id": m.id },
      el("td", { class: "num", "data-field": "q" }, fmt(m.q)),
      el("td", { class: "num", "data-field": "visits" }, fmt(m.visits)),
      el("td", { "data-field": "success" }, m.success ? "yes" : "no"),
      el("td", { class: "num", "data-field": "lastReward" }, fmt(m.lastReward)),
      historyCell(histories.get(m.id)),
      el("td", { class: "text", "data-field": "intentText" }, m.intentText)))));
}

// The recent rewards of the listed memories; one that is gone since the insight was taken shows none.
async function histories(path: string, memories: MemoryBrief[]): Promise<Map<string, HistoryEntry[]>> {
  const ids = [...new Set(memories.map(m => m.id))];
  const pages = await Promise.all(ids.map(id =>
    api<HistoryPage>("GET", `${path}/memories/${encodeURIComponent(id)}/history?limit=${HistoryShown}`).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    })));
  const map = new Map<string, HistoryEntry[]>();
  ids.forEach((id, i) => { const page = pages[i]; if (page) map.set(id, page.entries); });
  return map;
}

function shardTable(insight: BankInsight, total: number): HTMLElement {
  const answered = new Map(insight.shards.map(s => [s.shard, s]));
  const rows: HTMLElement[] = [];
  for (let i = 0; i < total; i++) {
    const s = answered.get(i);
    rows.push(s
      ? el("tr", { "data-shard": String(i) },
          el("td", {}, String(i)), el("td", { "data-field": "silo" }, s.silo), el("td", { "data-field": "state" }, "active"),
          el("td", { "data-field": "activeSince" }, new Date(s.activeSince).toLocaleTimeString()),
          el("td", { class: "num", "data-field": "keys" }, fmt(s.keys)), el("td", { class: "num", "data-field": "memories" }, fmt(s.memories)),
          el("td", { class: "num", "data-field": "searches" }, fmt(s.search.count)),
          el("td", { class: "num", "data-field": "p50Ms" }, fmt(s.search.p50Ms)), el("td", { class: "num", "data-field": "p90Ms" }, fmt(s.search.p90Ms)),
          el("td", { class: "num", "data-field": "maxMs" }, fmt(s.search.maxMs)))
      : el("tr", { "data-shard": String(i) }, el("td", {}, String(i)), el("td", {}, "–"), el("td", { "data-field": "state" }, "did not answer"),
          el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "–"), el("td", {}, "–")));
  }
  return el("table", { id: "shards" },
    el("thead", {}, el("tr", {}, ...["shard", "silo", "state", "active since", "keys", "memories", "searches", "p50 ms", "p90 ms", "max ms"].map(h => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

async function renderBank(bank: string, query: string | null): Promise<void> {
  const path = `/v1/banks/${encodeURIComponent(bank)}`;
  const [stats, insight] = await Promise.all([api<BankStats>("GET", `${path}/stats`), api<BankInsight>("GET", `${path}/insight`)]);
  const recentRewards = await histories(path, [...insight.best, ...insight.worst]);
  const successMemories = insight.shards.reduce((n, s) => n + s.successMemories, 0);
  const rewards = insight.rewards.reduce((n, b) => n + b.count, 0);
  const rewardSuccesses = insight.rewards.reduce((n, b) => n + b.successes, 0);
  const windowStart = Date.parse(insight.asOf) - RollingBuckets * insight.bucketSeconds * 1000;
  const recent = insight.rewards.filter(b => Date.parse(b.start) >= windowStart);
  const recentCount = recent.reduce((n, b) => n + b.count, 0), recentSuccesses = recent.reduce((n, b) => n + b.successes, 0);

  const cards = el("div", { class: "cards", id: "bank-stats" },
    card("keys", fmt(stats.keys), "keys"), card("memories", fmt(stats.memories), "memories"),
    card("mean Q", fmt(stats.qMean), "qMean"), card("min Q", fmt(stats.qMin), "qMin"), card("max Q", fmt(stats.qMax), "qMax"),
    card("mean visits", fmt(stats.visitsDistribution.mean), "visitsMean"), card("max visits", fmt(stats.visitsDistribution.max), "visitsMax"),
    card("successful memories", pct(successMemories, stats.memories), "successShare"),
    card("rewards (15 min)", fmt(rewards), "rewards"), card("rewarded as success", pct(rewardSuccesses, rewards), "rewardSuccessShare"),
    card(`success, last ${RollingBuckets * insight.bucketSeconds} s`, pct(recentSuccesses, recentCount), "recentSuccessShare"),
    card("shards answered", `${stats.coverage.shardsAnswered}/${stats.coverage.shardsTotal}`, "coverage"));

  const explainForm = el("form", { class: "explain", id: "explain-form" },
    el("input", { type: "text", id: "explain-query", placeholder: "a query as an agent would send it (text, or a JSON vector)", required: "" }),
    el("label", {}, "k1 ", el("input", { type: "number", id: "explain-k1", min: "1" })),
    el("label", {}, "k2 ", el("input", { type: "number", id: "explain-k2", min: "1" })),
    el("label", {}, "λ ", el("input", { type: "number", id: "explain-lambda", min: "0", max: "1", step: "0.05" })),
    el("button", { type: "submit" }, "Explain"));
  const explainOut = el("div", { id: "explain-result" });

  byId("view").replaceChildren(
    el("h2", {}, "Bank ", el("span", { id: "bank-name" }, bank), " ", el("a", { href: "#" }, "(all banks)")),
    cards,
    el("div", { class: "grid" },
      el("div", { class: "panel" }, el("h3", {}, "Q distribution"), histogram(stats.qDistribution, "q-histogram", "Q histogram")),
      el("div", { class: "panel" }, el("h3", {}, "Rewards over time"), rewardChart(insight)),
      el("div", { class: "panel" }, el("h3", {}, "Visits per memory (log2 bins)"), histogram(stats.visitsDistribution, "visits-histogram", "visits histogram"))),
    el("h3", {}, "Shards"), shardTable(insight, stats.coverage.shardsTotal),
    el("div", { class: "grid" },
      el("div", {}, el("h3", {}, "Best memories by Q"), memoryTable("best", insight.best, recentRewards)),
      el("div", {}, el("h3", {}, "Worst memories by Q"), memoryTable("worst", insight.worst, recentRewards))),
    el("h2", {}, "Recall explainer"),
    el("p", { class: "muted" }, "Runs Phase A and Phase B as a recall would (exploiting) and shows the whole pool. It issues no recall token: nothing here can be rewarded."),
    explainForm, explainOut);

  const input = byId("explain-query") as HTMLInputElement;
  explainForm.addEventListener("submit", event => {
    event.preventDefault();
    const params = route();
    params.set("q", input.value);
    location.hash = params.toString(); // the hashchange renders it, so the explanation is linkable
  });
  if (query) {
    input.value = query;
    await explain(path, query, explainOut);
  } else {
    // Live: refresh while nobody is reading an explanation (a re-render would clear it).
    refreshTimer = window.setTimeout(() => { void render(); }, RefreshMs);
  }
}

function optionalNumber(id: string): number | undefined {
  const value = (byId(id) as HTMLInputElement).value;
  return value === "" ? undefined : Number(value);
}

async function explain(path: string, query: string, out: HTMLElement): Promise<void> {
  // A bank of vectors (the benchmark's, say) has no text embedder here: a JSON array is sent as the query vector.
  const trimmed = query.trim();
  const body: Record<string, unknown> = trimmed.startsWith("[") ? { query: JSON.parse(trimmed) as unknown } : { queryText: query };
  for (const [field, id] of [["k1", "explain-k1"], ["k2", "explain-k2"], ["lambda", "explain-lambda"]] as const) {
    const v = optionalNumber(id);
    if (v !== undefined) body[field] = v;
  }
  const x = await api<Explanation>("POST", `${path}/explain`, body);
  const summary = el("p", { id: "explain-summary" },
    `${x.keysMatched} keys passed delta ${fmt(x.delta)} (k1 ${x.k1}); pool of ${x.pool.length}; k2 ${x.k2}, λ ${fmt(x.lambda)}, `
    + `qMin ${x.qMin === null ? "none" : fmt(x.qMin)}, epsilon ${fmt(x.epsilon)}; similarity ${x.similarityNormalization} mean ${fmt(x.similarityMean)} sd ${fmt(x.similarityStdDev)}; `
    + `Q mean ${fmt(x.qMean)} sd ${fmt(x.qStdDev)}; shards ${x.coverage.shardsAnswered}/${x.coverage.shardsTotal}.`);
  const head = ["rank", "verdict", "similarity", "Q", "zSim", "zQ", "score", "success", "intent", "experience", "why"];
  const table = el("table", { id: "explain-pool" },
    el("thead", {}, el("tr", {}, ...head.map(h => el("th", {}, h)))),
    el("tbody", {}, ...x.pool.map(c => el("tr", { "data-id": c.id, class: `verdict-${c.verdict}` },
      el("td", { class: "num", "data-field": "rank" }, c.rank === null ? "–" : String(c.rank)),
      el("td", { "data-field": "verdict" }, c.verdict),
      el("td", { class: "num", "data-field": "similarity" }, fmt(c.similarity)),
      el("td", { class: "num", "data-field": "q" }, fmt(c.q)),
      el("td", { class: "num", "data-field": "zSim" }, fmt(c.zSim)),
      el("td", { class: "num", "data-field": "zQ" }, fmt(c.zQ)),
      el("td", { class: "num", "data-field": "score" }, fmt(c.score)),
      el("td", { "data-field": "success" }, c.success ? "yes" : "no"),
      el("td", { class: "text", "data-field": "intentText" }, c.intentText),
      el("td", { class: "text", "data-field": "experience" }, c.experience),
      el("td", { class: "text", "data-field": "reason" }, c.reason)))));
  out.replaceChildren(summary, x.pool.length === 0 ? el("p", { class: "muted" }, "Nothing passed the similarity gate: a recall would run without memory.") : table);
}

// ---- start ------------------------------------------------------------------------------------------------------

function start(): void {
  adoptKeyFromFragment();
  byId("key-entry").addEventListener("submit", event => {
    event.preventDefault();
    const input = byId("key-input") as HTMLInputElement;
    if (input.value.trim() !== "") sessionStorage.setItem(KeyStorage, input.value.trim());
    input.value = "";
    void render();
  });
  byId("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KeyStorage);
    void render();
  });
  window.addEventListener("hashchange", () => { adoptKeyFromFragment(); void render(); });
  void render();
}

start();

// An in-process HTTP server (node:http) whose answers a test scripts, recording every request it gets.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** What a handler does with one request: answer it, or `"drop"` to destroy the socket without an answer. */
export type Handler = (request: Seen, n: number) => Answer | "drop" | "hang" | Promise<Answer | "drop" | "hang">;

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  raw?: string;
}

export class FakeServer {
  readonly seen: Seen[] = [];
  url = "";
  readonly #server = createServer((req, res) => void this.#handle(req, res));

  constructor(private readonly handler: Handler) {}

  static async start(handler: Handler): Promise<FakeServer> {
    const fake = new FakeServer(handler);
    await new Promise<void>((done) => fake.#server.listen(0, "127.0.0.1", done));
    fake.url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      chunks.push(chunk as Buffer);
    }
    const seen: Seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
    this.seen.push(seen);
    const answer = await this.handler(seen, this.seen.length);
    if (answer === "drop") {
      req.socket.destroy();
      return;
    }
    if (answer === "hang") {
      return; // never answers; closeAllConnections ends it
    }
    const text = answer.raw ?? (answer.body === undefined ? "" : JSON.stringify(answer.body));
    const type = answer.raw !== undefined ? "text/html" : answer.status >= 400 ? "application/problem+json" : "application/json";
    res.writeHead(answer.status, { ...(text ? { "Content-Type": type } : {}), ...answer.headers });
    res.end(text);
  }
}

export function problem(status: number, members: Record<string, unknown>): Answer {
  return { status, body: { status, title: "Problem", ...members } };
}

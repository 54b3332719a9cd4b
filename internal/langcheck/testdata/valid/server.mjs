#!/usr/bin/env node
// An ES module with modern syntax: top-level await, private fields,
// optional chaining, nullish assignment, class static blocks, regex flags.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";

const config = JSON.parse(await readFile(new URL("./config.json", import.meta.url), "utf8").catch(() => "{}"));
const port = config?.server?.port ?? 8080;

export class Router {
  #routes = new Map();
  static #instances = 0;
  static {
    Router.version = "1.0";
  }

  constructor() {
    Router.#instances++;
  }

  get(path, handler) {
    this.#routes.set(`GET ${path}`, handler);
    return this;
  }

  async handle(req, res) {
    const key = `${req.method} ${new URL(req.url, "http://x").pathname}`;
    const handler = this.#routes.get(key) ?? ((_, r) => r.writeHead(404).end());
    try {
      await handler(req, res);
    } catch ({ message }) {
      res.writeHead(500, { "content-type": "text/plain" }).end(message);
    } finally {
      config.hits ??= 0;
      config.hits += 1;
    }
  }
}

const router = new Router()
  .get("/", (_, res) => res.end("hello"))
  .get("/items", async (_, res) => {
    const items = [1, 2, 3].map((n) => ({ id: n, even: n % 2 === 0 })).filter(({ even }) => !even);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ items, at: new Date().toISOString() }));
  });

const re = /^(?<year>\d{4})-(?<month>\d{2})$/v;
const big = 12_345_678_901_234_567_890n;
label: for (const [i, v] of ["a", "b"].entries()) {
  if (re.test(v)) break label;
  console.log(i, v, big ** 2n);
}

function* ids(start = 0) {
  while (true) yield start++;
}
export default router;
createServer((req, res) => router.handle(req, res)).listen(port, () => console.log(`listening on ${port}`));

/**
 * The HTTP endpoint Prometheus scrapes: GET /metrics on node:http; with `page`, the live page beside it
 * (GET /, /api/run, /val_preview.png: pageRoutes.ts), nothing else.
 *
 *   const server = await startMetricsServer({ registry: metrics.registry, port: 9464, host: "127.0.0.1" });
 *   console.log(server.url);   // http://127.0.0.1:9464/metrics (port 0 → the port the OS chose)
 *   await server.close();   // after one last scrape, if something is scraping, so the final figures land
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { inputError } from "../errors.js";
import type { PageRoutes } from "./pageRoutes.js";

export interface MetricsServerOptions {
  registry: Registry;
  /** 0 asks the OS for a free port; `port` of the result says which. */
  port: number;
  host: string;
  /** The live page's routes, served on the same host and port. */
  page?: PageRoutes;
}

export interface MetricsServer {
  /** Full URL of the metrics page, e.g. http://127.0.0.1:9464/metrics */
  url: string;
  port: number;
  /**
   * Stops serving. When a scraper has come at a steady pace (two scrapes or more), waits first for its next
   * scrape (at most two intervals and a second, never over 15 s) so that Prometheus sees the figures recorded at the very
   * end of a run (the last validation); `{ finalScrape: false }` closes at once.
   */
  close(options?: { finalScrape?: boolean }): Promise<void>;
}

const maxFinalScrapeWaitMs = 15_000;

/** Listens until close(). A busy or forbidden port, or a host not on this machine, is the user's InputError. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, port, host, page } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw inputError("--metrics-port", `${port} is not a port number (0 to 65535)`);
  }
  const scrapes = new ScrapeClock();
  const server = createServer((request, response) => {
    serve(registry, request, response, scrapes, page).catch((error: unknown) => {
      // A failing collector must not take the run down; the scrape shows the failure instead.
      if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
      response.end(`collecting metrics failed: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => reject(listenError(error, host, port)));
    server.listen(port, host, () => resolve());
  });
  // Scrapes must never keep the coordinator alive on their own.
  server.unref();
  const actualPort = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${actualPort}/metrics`,
    port: actualPort,
    close: async (closeOptions = {}) => {
      if (closeOptions.finalScrape ?? true) await Promise.all([scrapes.next(maxFinalScrapeWaitMs), page?.settle()]);
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Prometheus keeps its scrape connection alive; without this close() waits for it to time out.
        server.closeAllConnections();
      });
    },
  };
}

/** When the scrapes came, so close() can wait for the next one of a steady scraper. */
class ScrapeClock {
  private previous = 0;
  private last = 0;
  private waiters: (() => void)[] = [];

  served(): void {
    this.previous = this.last;
    this.last = Date.now();
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves after the next scrape, or at once when nothing scrapes at a known pace. */
  next(capMs: number): Promise<void> {
    if (this.previous === 0) return Promise.resolve();
    const interval = this.last - this.previous;
    // Slack of a second for a scraper (or a machine) that is late once.
    const waitMs = Math.min(capMs, this.last + 2 * interval + 1000 - Date.now());
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

async function serve(
  registry: Registry,
  request: IncomingMessage,
  response: ServerResponse,
  scrapes: ScrapeClock,
  page: PageRoutes | undefined,
): Promise<void> {
  if (page && (await page.handle(request, response))) return;
  const path = (request.url ?? "/").split("?")[0];
  if (path !== "/metrics") {
    const served = page ? "/metrics, / (the live page), /api/run and /val_preview.png" : "/metrics only";
    response.writeHead(404, { "content-type": "text/plain" }).end(`voxring serves ${served}\n`);
    return;
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end();
    return;
  }
  const body = await registry.metrics();
  response.writeHead(200, { "content-type": registry.contentType });
  response.end(request.method === "HEAD" ? undefined : body, () => scrapes.served());
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  switch (error.code) {
    case "EADDRINUSE":
      return inputError("--metrics-port", `port ${port} on ${host} is already in use (choose another, or 0 for any)`);
    case "EACCES":
      return inputError("--metrics-port", `not allowed to listen on port ${port} (ports below 1024 need root)`);
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return inputError("--metrics-host", `${host} is not an address of this machine`);
    default:
      return error;
  }
}

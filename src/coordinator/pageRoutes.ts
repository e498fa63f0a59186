/**
 * The live page's HTTP routes, served beside /metrics by the coordinator and alone by `orchestrate view`:
 *
 *   GET /                  the page (one HTML file, its script polls /api/run)
 *   GET /api/run           the RunSnapshot as JSON (runSnapshot.ts documents each field)
 *   GET /val_preview.png   the latest validation preview, revalidated on every load (ETag)
 *
 *   const routes = createPageRoutes(new RunWatch({ runDir }));
 *   const server = await startPageServer({ routes, host: "127.0.0.1", port: 0 });   // `view`
 *   console.log(server.url);   // http://127.0.0.1:43817/
 */
import { readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { inputError } from "../errors.js";
import { livePageHtml } from "./livePageHtml.js";
import { previewFile, type RunWatch } from "./runWatch.js";

export interface PageRoutes {
  /** Answers the request when it is one of the page's paths; false leaves it to the caller. */
  handle(request: IncomingMessage, response: ServerResponse): Promise<boolean>;
  /**
   * Resolves after the next GET /api/run when a page has been polling (at most `capMs`), at once otherwise:
   * a server about to close lets an open page fetch the final state first.
   */
  settle(capMs?: number): Promise<void>;
}

export const pagePaths = ["/", "/api/run", `/${previewFile}`] as const;

const page = Buffer.from(livePageHtml, "utf8");

export function createPageRoutes(watch: RunWatch): PageRoutes {
  let lastPoll = 0;
  const waiters: (() => void)[] = [];
  const polled = () => {
    lastPoll = Date.now();
    for (const wake of waiters.splice(0)) wake();
  };
  return {
    async handle(request, response) {
      const path = (request.url ?? "/").split("?")[0];
      if (!(pagePaths as readonly string[]).includes(path)) return false;
      if (request.method !== "GET" && request.method !== "HEAD") {
        response.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end();
        return true;
      }
      const head = request.method === "HEAD";
      if (path === "/") {
        response.writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "content-length": page.length,
          "cache-control": "no-cache",
        });
        response.end(head ? undefined : page);
      } else if (path === "/api/run") {
        const body = Buffer.from(JSON.stringify(watch.snapshot()), "utf8");
        response.writeHead(200, {
          "content-type": "application/json; charset=utf-8",
          "content-length": body.length,
          "cache-control": "no-store",
        });
        response.end(head ? undefined : body, polled);
      } else {
        await servePng(join(watch.runDir, previewFile), request, response, head);
      }
      return true;
    },
    settle(capMs = 3000) {
      // A page polls every 2 s: one that polled in the last 5 s is open.
      if (lastPoll === 0 || Date.now() - lastPoll > 5000) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, capMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };

  async function servePng(path: string, request: IncomingMessage, response: ServerResponse, head: boolean) {
    let tag: string;
    let body: Buffer;
    try {
      const s = await stat(path);
      tag = `"${Math.round(s.mtimeMs).toString(36)}-${s.size.toString(36)}"`;
      // no-cache: the browser keeps it but asks every time; an unchanged picture costs a 304.
      if (request.headers["if-none-match"] === tag) {
        response.writeHead(304, { etag: tag, "cache-control": "no-cache" }).end();
        return;
      }
      body = await readFile(path);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" }).end("no validation preview yet\n");
      return;
    }
    response.writeHead(200, {
      "content-type": "image/png",
      "content-length": body.length,
      "cache-control": "no-cache",
      etag: tag,
    });
    response.end(head ? undefined : body);
  }
}

export interface PageServer {
  /** The page's URL, e.g. http://127.0.0.1:43817/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** The page on its own (`orchestrate view`); a busy port or a host not of this machine is an InputError. */
export async function startPageServer(options: {
  routes: PageRoutes;
  host: string;
  port: number;
}): Promise<PageServer> {
  const { routes, host, port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw inputError("--port", `${port} is not a port number (0 to 65535)`);
  }
  const server = createServer((request, response) => {
    routes
      .handle(request, response)
      .then((handled) => {
        if (!handled) response.writeHead(404, { "content-type": "text/plain" }).end(notFound);
      })
      .catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { "content-type": "text/plain" });
        response.end(`reading the run failed: ${error instanceof Error ? error.message : String(error)}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(inputError("--port", `port ${port} on ${host} is already in use`));
      else if (error.code === "EACCES") reject(inputError("--port", `not allowed to listen on port ${port}`));
      else if (["EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"].includes(error.code ?? "")) {
        reject(inputError("--host", `${host} is not an address of this machine`));
      } else reject(error);
    });
    server.listen(port, host, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${actualPort}/`,
    port: actualPort,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export const notFound = `voxring serves ${pagePaths.join(", ")} here\n`;

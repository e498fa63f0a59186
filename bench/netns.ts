/**
 * Hosts on one machine: N network namespaces joined by a bridge in the root namespace, one veth pair per
 * host, addresses that exist only inside the namespaces (so every byte between ranks crosses a real
 * non-loopback interface and CURVE is on). Optionally each link is shaped with `tc tbf` to a rate, both ways
 * (the host's end shapes what it sends, the bridge's end what it receives). Needs root.
 *
 *   const net = buildHosts({ prefix: "vs", count: 4, subnet: "10.213.0", rate: "1gbit" });
 *   try { ...net.hosts[i].ns, net.hosts[i].addr, net.hosts[i].dev... } finally { net.remove(); }
 */
import { execFileSync } from "node:child_process";

export interface NetHost {
  /** the network namespace (run a process there with `ip netns exec NS ...`) */
  ns: string;
  /** this host's address on the bridge */
  addr: string;
  /** this host's interface inside its namespace (GLOO_SOCKET_IFNAME for the DDP anchor) */
  dev: string;
}

export interface HostNet {
  hosts: NetHost[];
  /** Removes every namespace, link and the bridge; safe to call twice and after a half-built net. */
  remove(): void;
}

export interface HostNetOptions {
  /** short and unique to the caller: names are PREFIX-h0.., PREFIXbr0, PREFIXv0.. (Linux allows 15 chars) */
  prefix: string;
  count: number;
  /** first three octets; host i gets SUBNET.(i + 1)/24 */
  subnet: string;
  /** a tc rate such as "1gbit"; none: unshaped */
  rate?: string;
}

const RATE_UNITS: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9 };

/** The bits per second of a tc rate such as "1gbit" or "500mbit"; null when it is not one. */
export function tcRateBitsPerSecond(rate: string): number | null {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)bit$/.exec(rate);
  return match ? Number(match[1]) * RATE_UNITS[match[2]] : null;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function buildHosts(options: HostNetOptions): HostNet {
  if (process.getuid?.() !== 0) throw new Error("network-namespace hosts need root (ip netns, tc)");
  const { prefix, count, subnet, rate } = options;
  const bridge = `${prefix}br0`;
  const hosts: NetHost[] = Array.from({ length: count }, (_, i) => ({
    ns: `${prefix}-h${i}`,
    addr: `${subnet}.${i + 1}`,
    dev: `${prefix}v${i}`,
  }));
  const remove = () => {
    for (const h of hosts) {
      try {
        ip("netns", "del", h.ns); // takes its end of the veth pair, and so the pair, with it
      } catch {}
    }
    try {
      ip("link", "del", bridge);
    } catch {}
  };
  remove(); // what a killed earlier run may have left
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("link", "set", bridge, "up");
    hosts.forEach((h, i) => {
      const peer = `${prefix}p${i}`;
      ip("netns", "add", h.ns);
      ip("link", "add", h.dev, "type", "veth", "peer", "name", peer);
      ip("link", "set", h.dev, "netns", h.ns);
      ip("link", "set", peer, "master", bridge);
      ip("link", "set", peer, "up");
      ip("-n", h.ns, "addr", "add", `${h.addr}/24`, "dev", h.dev);
      ip("-n", h.ns, "link", "set", h.dev, "up");
      ip("-n", h.ns, "link", "set", "lo", "up");
      if (rate) {
        const tbf = ["qdisc", "add", "dev", "", "root", "tbf", "rate", rate, "burst", "256k", "latency", "100ms"];
        execFileSync("ip", ["netns", "exec", h.ns, "tc", ...tbf.map((a) => a || h.dev)], { stdio: "pipe" });
        execFileSync(
          "tc",
          tbf.map((a) => a || peer),
          { stdio: "pipe" },
        );
      }
    });
  } catch (error) {
    remove();
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot build the namespace hosts: ${stderr || (error as Error).message}`);
  }
  return { hosts, remove };
}

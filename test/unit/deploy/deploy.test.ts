import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { RUN_KEYS_ENV } from "../../../src/comm/security.js";
import { defaultConfig, readConfigFile } from "../../../src/train/config.js";

const root = resolve(import.meta.dirname, "..", "..", "..");
const deploy = join(root, "deploy");
const read = (path: string) => readFileSync(join(deploy, path), "utf8");

// biome-ignore lint/suspicious/noExplicitAny: manifests are open-ended YAML
type Doc = any;

function k8sDocs(): Doc[] {
  const kustomization = parse(read("k8s/kustomization.yaml"));
  const docs: Doc[] = [];
  for (const file of kustomization.resources as string[]) {
    for (const doc of parseAllDocuments(read(`k8s/${file}`))) {
      expect(doc.errors, file).toEqual([]);
      docs.push(doc.toJS());
    }
  }
  return docs;
}

function only(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  expect(found.length, `${kind} ${name ?? ""}`).toBe(1);
  return found[0];
}

describe("deploy/prometheus.yml", () => {
  it("passes promtool check config and scrapes the default metrics port", () => {
    const result = spawnSync("promtool", ["check", "config", join(deploy, "prometheus.yml")], { encoding: "utf8" });
    expect(result.error).toBeUndefined();
    expect(result.status, result.stderr + result.stdout).toBe(0);
    const targets = parse(read("prometheus.yml")).scrape_configs.flatMap((s: Doc) =>
      s.static_configs.flatMap((c: Doc) => c.targets),
    );
    expect(targets).toContain(`localhost:${defaultConfig.metricsPort}`);
  });
});

describe("deploy/docker-compose.yml and Grafana provisioning", () => {
  const compose = parse(read("docker-compose.yml"));

  it("mounts files that exist, and the dashboards where the provider looks for them", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["grafana", "prometheus"]);
    const mounts = (service: string) =>
      (compose.services[service].volumes as string[]).map((v) => v.split(":")).filter(([src]) => src.startsWith("."));
    for (const service of ["prometheus", "grafana"]) {
      for (const [src] of mounts(service)) expect(existsSync(join(deploy, src)), `${service}: ${src}`).toBe(true);
    }
    const dashboardsTarget = mounts("grafana").find(([src]) => src === "../dashboards")?.[1];
    const provider = parse(read("grafana/provisioning/dashboards/voxring.yml")).providers[0];
    expect(provider.type).toBe("file");
    expect(provider.options.path).toBe(dashboardsTarget);
    const provisioningTargets = mounts("grafana").map(([, target]) => target);
    expect(provisioningTargets).toContain("/etc/grafana/provisioning/datasources");
    expect(provisioningTargets).toContain("/etc/grafana/provisioning/dashboards");
    expect(mounts("prometheus").map(([src]) => src)).toContain("./prometheus.yml");
  });

  it("points the provisioned datasource at the compose Prometheus", () => {
    const datasource = parse(read("grafana/provisioning/datasources/prometheus.yml")).datasources[0];
    expect(datasource.type).toBe("prometheus");
    const listen = (compose.services.prometheus.command as string[]).find((a) => a.startsWith("--web.listen-address="));
    const port = listen?.split(":").pop();
    expect(new URL(datasource.url).port).toBe(port);
    // Host networking on both sides: localhost means the same machine for Grafana, Prometheus and the run.
    expect(compose.services.prometheus.network_mode).toBe("host");
    expect(compose.services.grafana.network_mode).toBe("host");
  });
});

describe("deploy/Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

  it("builds on the CUDA and cuDNN that tfjs-node-gpu of the project's tfjs version needs", () => {
    const tfjs = /(\d+)\.(\d+)/.exec(pkg.dependencies["@tensorflow/tfjs"])!;
    // tfjs-node(-gpu) 4.x bundles libtensorflow 2.9.1, built against CUDA 11.2 and cuDNN 8.1.
    expect(tfjs[1]).toBe("4");
    const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(stages.at(-1)).toMatch(/^nvidia\/cuda:11\.2\.\d+-cudnn8-(runtime|devel)-ubuntu\d+\.\d+$/);
    expect(dockerfile).toContain(`@tensorflow/tfjs-node-gpu@${tfjs[1]}.${tfjs[2]}.`);
    expect(dockerfile).toMatch(/node:20\b/);
  });

  it("copies what exists and runs the CLI that package.json names", () => {
    for (const m of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
      for (const src of m[1].trim().split(/\s+/)) expect(existsSync(join(root, src)), src).toBe(true);
    }
    expect(dockerfile).toContain(`/opt/voxring/${pkg.bin.orchestrate}`);
  });
});

describe("deploy/k8s", () => {
  const docs = k8sDocs();
  const deployment = only(docs, "Deployment");
  const job = only(docs, "Job");
  const coordinatorService = only(docs, "Service", "voxring-coordinator");
  const configMap = only(docs, "ConfigMap");
  const secret = parseAllDocuments(read("k8s/secret.example.yaml"))[0].toJS();

  it("has every kind of the setup, in one namespace", () => {
    const kinds = new Set(docs.map((d) => d.kind));
    for (const kind of ["Namespace", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "Job"]) {
      expect(kinds).toContain(kind);
    }
    const namespace = only(docs, "Namespace").metadata.name;
    for (const doc of docs.filter((d) => d.kind !== "Namespace")) expect(doc.metadata.namespace).toBe(namespace);
    expect(secret.metadata.namespace).toBe(namespace);
  });

  it("gives every worker pod one GPU and the run's CURVE keys from the Secret", () => {
    expect(job.spec.completionMode).toBe("Indexed");
    const [worker] = job.spec.template.spec.containers;
    expect(String(worker.resources.limits["nvidia.com/gpu"])).toBe("1");
    expect(worker.envFrom.map((e: Doc) => e.secretRef?.name)).toContain(secret.metadata.name);
    expect(Object.keys(secret.stringData).sort()).toEqual(Object.values(RUN_KEYS_ENV).sort());
    const [coordinator] = deployment.spec.template.spec.containers;
    expect(coordinator.envFrom.map((e: Doc) => e.secretRef?.name)).toContain(secret.metadata.name);
  });

  it("connects workers to the coordinator Service on the ports the run config opens", () => {
    const [worker] = job.spec.template.spec.containers;
    const endpoint = worker.args[worker.args.indexOf("--coordinator") + 1];
    const { hostname, port } = new URL(endpoint.replace(/^tcp:/, "http:"));
    expect(hostname).toBe(coordinatorService.metadata.name);
    const servicePort = (name: string) => coordinatorService.spec.ports.find((p: Doc) => p.name === name);
    expect(String(servicePort("control").port)).toBe(port);

    const dir = mkdtempSync(join(tmpdir(), "voxring-k8s-"));
    try {
      writeFileSync(join(dir, "train.yaml"), configMap.data["train.yaml"]);
      const settings = readConfigFile(join(dir, "train.yaml"));
      expect(settings.port).toBe(servicePort("control").port);
      expect(settings.metricsPort).toBe(servicePort("metrics").port);
      expect(settings.metricsHost).toBe("0.0.0.0");
      expect(settings.remoteWorkers).toBe(job.spec.parallelism);
      expect(job.spec.completions).toBe(job.spec.parallelism);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const [coordinator] = deployment.spec.template.spec.containers;
    const containerPorts = new Map(coordinator.ports.map((p: Doc) => [p.name, p.containerPort]));
    for (const p of coordinatorService.spec.ports) expect(containerPorts.get(p.targetPort)).toBe(p.port);
    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(coordinatorService.spec.selector)) expect(labels[k]).toBe(v);
    const configVolume = deployment.spec.template.spec.volumes.find((v: Doc) => v.configMap);
    expect(configVolume.configMap.name).toBe(configMap.metadata.name);
  });

  it("claims the volumes it mounts", () => {
    const claims = new Set(docs.filter((d) => d.kind === "PersistentVolumeClaim").map((d) => d.metadata.name));
    for (const spec of [deployment.spec.template.spec, job.spec.template.spec]) {
      for (const volume of spec.volumes)
        if (volume.persistentVolumeClaim) expect(claims).toContain(volume.persistentVolumeClaim.claimName);
    }
  });
});

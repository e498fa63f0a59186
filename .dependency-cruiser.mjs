/**
 * The layout's rules (test/unit/layout.test.ts enforces them; `npx depcruise src bench` shows them):
 * folders are concerns and imports run one way. data and comm sit at the bottom and know no framework;
 * the two processes never import each other; model, inference and train know neither process; nothing
 * below the CLI imports it.
 */
const processes = "^src/(coordinator|worker)/";
const frameworks = "^(node_modules/)?(@tensorflow|onnxruntime-node|onnx-proto)";

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: "bottom-knows-no-framework",
      comment: "src/comm and src/data work on plain typed arrays: no tensor framework",
      severity: "error",
      from: { path: "^src/(comm|data)/" },
      to: { path: frameworks },
    },
    {
      name: "bottom-knows-nothing-above",
      comment: "src/comm and src/data import none of the layers above them (arithmetic is injected into comm)",
      severity: "error",
      from: { path: "^src/(comm|data)/" },
      to: { path: "^src/(coordinator|worker|cli|model|inference|native|train|protocol|viz)/" },
    },
    {
      name: "data-and-comm-apart",
      comment: "data and comm do not lean on each other",
      severity: "error",
      from: { path: "^src/data/" },
      to: { path: "^src/comm/" },
    },
    {
      name: "worker-not-coordinator",
      severity: "error",
      from: { path: "^src/worker/" },
      to: { path: "^src/coordinator/" },
    },
    {
      name: "coordinator-not-worker",
      severity: "error",
      from: { path: "^src/coordinator/" },
      to: { path: "^src/worker/" },
    },
    {
      name: "libraries-know-no-process",
      comment: "model, inference, train, native, protocol and viz are shared by both processes and the CLI",
      severity: "error",
      from: { path: "^src/(model|inference|train|native|protocol|viz)/" },
      to: { path: processes },
    },
    {
      name: "nothing-imports-the-cli",
      severity: "error",
      from: { path: "^(src|bench)/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "no-circular",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^(dist|native/build)/" },
  },
};

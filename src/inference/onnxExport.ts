/**
 * The folded U-Net as an ONNX model (opset 17, IR 8) built directly with the ONNX protobuf definitions.
 * ONNX convolutions are channels-first, so the graph takes [N, C, D, H, W] and returns probabilities
 * [N, K, D, H, W] (softmax over axis 1), and kernels are transposed from tfjs layout:
 *   Conv          tfjs [kd, kh, kw, in, out] → ONNX [out, in, kd, kh, kw]
 *   ConvTranspose tfjs [kd, kh, kw, out, in] → ONNX [in, out, kd, kh, kw]
 * Batch sizes and spatial sizes are symbolic (multiples of 2^(levels-1)).
 */
import onnxProto from "onnx-proto";
import type { ConvWeights, InferenceUNet } from "./exportGraph.js";
import { checkInferenceUNet } from "./exportGraph.js";

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

export const ONNX_OPSET = 17;
export const ONNX_INPUT = "image";
export const ONNX_OUTPUT = "probabilities";

/** Serialises the network; `metadata` lands in the model's metadata_props (strings). */
export function buildOnnxModel(
  net: InferenceUNet,
  { producerVersion, metadata = {} }: { producerVersion: string; metadata?: Record<string, string> },
): Uint8Array {
  checkInferenceUNet(net);
  const nodes: INodeProto[] = [];
  const initializers: ITensorProto[] = [];

  const conv = (x: string, weights: ConvWeights, name: string, relu: boolean): string => {
    const [kd, kh, kw, cin, cout] = weights.kernelShape;
    initializers.push(
      floatTensor(
        `${name}.weight`,
        [cout, cin, kd, kh, kw],
        permute(weights.kernel, weights.kernelShape, [4, 3, 0, 1, 2]),
      ),
      floatTensor(`${name}.bias`, [cout], weights.bias),
    );
    const pads = [kd, kh, kw].map((k) => (k - 1) >> 1);
    nodes.push({
      name,
      opType: "Conv",
      input: [x, `${name}.weight`, `${name}.bias`],
      output: [name],
      attribute: [ints("kernel_shape", [kd, kh, kw]), ints("pads", [...pads, ...pads]), ints("strides", [1, 1, 1])],
    });
    if (!relu) return name;
    nodes.push({ name: `${name}.relu`, opType: "Relu", input: [name], output: [`${name}.relu`] });
    return `${name}.relu`;
  };

  let x = ONNX_INPUT;
  const skips: string[] = [];
  net.encoder.forEach(([a, b], level) => {
    x = conv(conv(x, a, `encoder${level}.conv0`, true), b, `encoder${level}.conv1`, true);
    if (level < net.encoder.length - 1) {
      skips.push(x);
      const pooled = `encoder${level}.pool`;
      nodes.push({
        name: pooled,
        opType: "MaxPool",
        input: [x],
        output: [pooled],
        attribute: [ints("kernel_shape", [2, 2, 2]), ints("strides", [2, 2, 2])],
      });
      x = pooled;
    }
  });
  net.upsample.forEach((up, i) => {
    const name = `decoder${i}.up`;
    const [kd, kh, kw, cout, cin] = up.kernelShape;
    initializers.push(
      floatTensor(`${name}.weight`, [cin, cout, kd, kh, kw], permute(up.kernel, up.kernelShape, [4, 3, 0, 1, 2])),
      floatTensor(`${name}.bias`, [cout], up.bias),
    );
    nodes.push({
      name,
      opType: "ConvTranspose",
      input: [x, `${name}.weight`, `${name}.bias`],
      output: [name],
      attribute: [ints("kernel_shape", [kd, kh, kw]), ints("strides", [2, 2, 2])],
    });
    const skip = skips.pop() as string;
    const concat = `decoder${i}.concat`;
    nodes.push({
      name: concat,
      opType: "Concat",
      input: net.concatOrder === "upsampledFirst" ? [name, skip] : [skip, name],
      output: [concat],
      attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    });
    const [a, b] = net.decoder[i];
    x = conv(conv(concat, a, `decoder${i}.conv0`, true), b, `decoder${i}.conv1`, true);
  });
  const logits = conv(x, net.head, "head", false);
  nodes.push({
    name: ONNX_OUTPUT,
    opType: "Softmax",
    input: [logits],
    output: [ONNX_OUTPUT],
    attribute: [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
  });

  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "voxring",
    producerVersion,
    docString: "3D U-Net (batch norm folded into the convolutions); input NCDHW, output softmax probabilities",
    graph: {
      name: "voxring_unet",
      node: nodes,
      initializer: initializers,
      input: [valueInfo(ONNX_INPUT, ["N", net.inChannels, "D", "H", "W"])],
      output: [valueInfo(ONNX_OUTPUT, ["N", net.numClasses, "D", "H", "W"])],
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Reorders a row-major array of `shape` so that output axis i is input axis order[i]. */
export function permute(values: Float32Array, shape: readonly number[], order: readonly number[]): Float32Array {
  const rank = shape.length;
  const outShape = order.map((axis) => shape[axis]);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i];
  }
  const strides = order.map((axis) => inStrides[axis]);
  const out = new Float32Array(values.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let from = 0;
    for (let i = 0; i < rank; i++) from += index[i] * strides[i];
    out[o] = values[from];
    for (let i = rank - 1; i >= 0; i--) {
      if (++index[i] < outShape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

function floatTensor(name: string, dims: number[], values: Float32Array): ITensorProto {
  // raw_data is little-endian by the ONNX spec; copy so the proto owns exactly these bytes.
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes };
}

function ints(name: string, values: number[]): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: values };
}

function valueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * The ONNX protobuf schema, loaded with protobufjs.
 *
 * The schema text below is the subset of the official `onnx/onnx.proto3` that an exporter of
 * plain tensor graphs needs (models, graphs, nodes, attributes, tensors, value infos, types,
 * opset ids), with the official field numbers, so the bytes we write are ordinary ONNX files any
 * ONNX reader accepts. Fields we never write (training info, sparse tensors, sequences, maps,
 * quantization annotations, ...) are left out; protobuf readers skip unknown fields, so decoding
 * a full model with this subset also works.
 *
 * Why a string and not a `.proto` file read at run time: the text ships inside the compiled
 * module, so `dist/` needs no copied asset and the same code loads in the browser.
 */
import protobuf from "protobufjs";

const ONNX_SUBSET_PROTO = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  string name = 1;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  string denotation = 6;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}
`;

/** ONNX `TensorProto.DataType` values for the element types worldkit exports. */
export const OnnxDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
} as const;

/** ONNX `AttributeProto.AttributeType` values. */
export const OnnxAttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** Plain-object shapes of the messages we build (protobufjs `fromObject` input, camelCase). */
export interface TensorProtoInit {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}
export interface AttributeProtoInit {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProtoInit;
  floats?: number[];
  ints?: number[];
}
export interface NodeProtoInit {
  name: string;
  opType: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute: AttributeProtoInit[];
}
export interface ValueInfoProtoInit {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: { dimValue: number }[] } } };
}
export interface GraphProtoInit {
  name: string;
  node: NodeProtoInit[];
  initializer: TensorProtoInit[];
  input: ValueInfoProtoInit[];
  output: ValueInfoProtoInit[];
}
export interface ModelProtoInit {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsetImport: { domain: string; version: number }[];
  graph: GraphProtoInit;
}

let root: protobuf.Root | undefined;

/** The parsed schema (parsed once, on first use). */
export function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: false }).root;
  return root;
}

/** Serialize a model to ONNX bytes; throws naming the offending field if the object is invalid. */
export function encodeModel(model: ModelProtoInit): Uint8Array {
  const ModelProto = onnxRoot().lookupType("onnx.ModelProto");
  const problem = ModelProto.verify(model);
  if (problem) throw new Error(`src/onnx/proto.ts: invalid ModelProto: ${problem}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/** Parse ONNX bytes back into a plain object (for tests and debugging). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const ModelProto = onnxRoot().lookupType("onnx.ModelProto");
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false });
}

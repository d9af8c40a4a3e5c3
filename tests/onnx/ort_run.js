// Runs an ONNX model in ONNX Runtime (the npm package onnxruntime-node, its CPU library) for the
// tests: node ort_run.js MODEL DIR reads DIR/inputs.json ([{name, dtype, shape}], the data of
// input i in DIR/in_i.bin, little-endian) and writes DIR/outputs.json and DIR/out_i.bin alike.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const arrays = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array,
  bool: Uint8Array,
};
const onnxTypes = { float: 'float32', double: 'float64' };

(async () => {
  const [model, dir] = process.argv.slice(2);
  const specs = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8'));
  const feeds = {};
  specs.forEach((s, i) => {
    const bytes = fs.readFileSync(path.join(dir, `in_${i}.bin`));
    const data = new arrays[s.dtype](bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    feeds[s.name] = new ort.Tensor(s.dtype === 'bool' ? 'bool' : s.dtype, data, s.shape);
  });
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all' });
  const results = await session.run(feeds);
  const out = session.outputNames.map((name, i) => {
    const t = results[name];
    const dtype = onnxTypes[t.type] || t.type;
    fs.writeFileSync(path.join(dir, `out_${i}.bin`), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    return { name, dtype, shape: t.dims };
  });
  fs.writeFileSync(path.join(dir, 'outputs.json'), JSON.stringify(out));
})().catch((e) => {
  console.error(`ort_run: ${e.message || e}`);
  process.exit(1);
});

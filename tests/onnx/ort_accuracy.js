// The test accuracy of an exported MNIST-style classifier in ONNX Runtime (onnxruntime-node):
//   node ort_accuracy.js MODEL DATA_DIR EXAMPLES SHAPE
// runs the first EXAMPLES images of DATA_DIR's test set (t10k-*-ubyte, gzipped or not; pixels as
// float32 byte * float32(1/255), as tapeflow::data::mnist reads them), each shaped SHAPE (784 or
// 28,28,1), through the model's first input in batches of 500, and prints
//   onnx_runtime: test_accuracy=<accuracy, 4 decimals> examples=<EXAMPLES>
// counting an example right when its logits' first largest entry is its label (tf.argmax).
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function readIdx(dir, name) {
  const plain = path.join(dir, name);
  if (fs.existsSync(plain)) return fs.readFileSync(plain);
  return zlib.gunzipSync(fs.readFileSync(plain + '.gz'));
}

(async () => {
  const [model, dataDir, examplesText, shapeText] = process.argv.slice(2);
  const images = readIdx(dataDir, 't10k-images-idx3-ubyte');
  const labels = readIdx(dataDir, 't10k-labels-idx1-ubyte');
  const total = images.readUInt32BE(4), pixels = images.readUInt32BE(8) * images.readUInt32BE(12);
  const n = Math.min(Number(examplesText) > 0 ? Number(examplesText) : total, total);
  const shape = shapeText.split(',').map(Number);
  const session = await ort.InferenceSession.create(model);
  const scale = Math.fround(1 / 255);
  let right = 0;
  for (let begin = 0; begin < n; begin += 500) {
    const size = Math.min(500, n - begin);
    const x = new Float32Array(size * pixels);
    for (let i = 0; i < x.length; ++i) x[i] = Math.fround(images[16 + begin * pixels + i] * scale);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [size, ...shape]) });
    const logits = out[session.outputNames[0]].data, classes = logits.length / size;
    for (let i = 0; i < size; ++i) {
      let best = 0;
      for (let k = 1; k < classes; ++k) if (logits[i * classes + k] > logits[i * classes + best]) best = k;
      if (best === labels[8 + begin + i]) ++right;
    }
  }
  console.log(`onnx_runtime: test_accuracy=${(right / n).toFixed(4)} examples=${n}`);
})().catch((e) => {
  console.error(`ort_accuracy: ${e.message || e}`);
  process.exit(1);
});

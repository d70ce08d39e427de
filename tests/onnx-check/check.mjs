// Runs ONNX models in ONNX Runtime (CPU) and compares ONNX Runtime's outputs with SharpCnn's,
// as written by `sharpcnn export-onnx --reference N` (inputs and SharpCnn's outputs). A model
// passes when every input gets the same class (arg-max) from both and every output value
// agrees within the tolerance.
//
//   node check.mjs [--tolerance 1e-4] [--write-outputs] MODEL.onnx[=REFERENCE.json]...
//
// The reference defaults to MODEL.reference.json beside the model (an exported model checked
// against the network it came from). Naming another one checks an imported model: ONNX Runtime
// runs the original ONNX file on the inputs of the reference that SharpCnn wrote for its import.
// When the reference's input/output names are not the model's, a model with one input and
// one output is fed and read through those.
//
// --write-outputs also writes ONNX Runtime's outputs as NAME.ort.json (for inspection).
// ORT_OPT=disabled|basic|extended|all (default all) sets ONNX Runtime's graph optimization level.
// Prints one line per model and ends with "N passed, N failed"; exits 1 if any failed.
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

function floats(base64) {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length % 4 !== 0) throw new Error(`base64 payload of ${bytes.length} bytes is not whole float32 values`);
  const copy = new Uint8Array(bytes); // aligned copy
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

function argmax(values, start, count) {
  let best = start;
  for (let i = start + 1; i < start + count; i++) if (values[i] > values[best]) best = i;
  return best - start;
}

async function check(argument, tolerance, writeOutputs) {
  const [modelPath, given] = argument.split('=');
  const referencePath = given ?? modelPath.replace(/\.onnx$/i, '') + '.reference.json';
  const ref = JSON.parse(readFileSync(referencePath, 'utf8'));
  const [n, c, h, w] = ref.shape;
  const classes = ref.classes;
  const inputs = floats(ref.inputs);
  const expected = floats(ref.outputs);
  if (inputs.length !== n * c * h * w) throw new Error(`${referencePath}: ${inputs.length} input values, shape [${ref.shape}] needs ${n * c * h * w}`);
  if (expected.length !== n * classes) throw new Error(`${referencePath}: ${expected.length} output values, ${n} x ${classes} expected`);

  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, graphOptimizationLevel: process.env.ORT_OPT ?? 'all' });
  const inputName = session.inputNames.includes(ref.input) ? ref.input : session.inputNames.length === 1 ? session.inputNames[0] : null;
  const outputName = session.outputNames.includes(ref.output) ? ref.output : session.outputNames.length === 1 ? session.outputNames[0] : null;
  if (inputName === null) throw new Error(`${modelPath}: no input '${ref.input}' (has ${session.inputNames})`);
  if (outputName === null) throw new Error(`${modelPath}: no output '${ref.output}' (has ${session.outputNames})`);

  const actual = new Float32Array(n * classes);
  const batch = 250;
  const sample = c * h * w;
  for (let start = 0; start < n; start += batch) {
    const m = Math.min(batch, n - start);
    const x = new ort.Tensor('float32', inputs.subarray(start * sample, (start + m) * sample), [m, c, h, w]);
    const result = await session.run({ [inputName]: x });
    const y = result[outputName];
    if (y.dims.length !== 2 || y.dims[0] !== m || y.dims[1] !== classes) throw new Error(`${modelPath}: output dims [${y.dims}], expected [${m}, ${classes}]`);
    actual.set(y.data, start * classes);
  }

  let maxDiff = 0, worst = -1, sameClass = 0, correct = 0;
  for (let s = 0; s < n; s++) {
    if (argmax(actual, s * classes, classes) === argmax(expected, s * classes, classes)) sameClass++;
    if (ref.labels.length === n && argmax(actual, s * classes, classes) === ref.labels[s]) correct++;
    for (let j = 0; j < classes; j++) {
      const d = Math.abs(actual[s * classes + j] - expected[s * classes + j]);
      if (!(d <= maxDiff)) { maxDiff = d; worst = s; }
    }
  }
  if (writeOutputs) {
    writeFileSync(modelPath.replace(/\.onnx$/i, '') + '.ort.json',
      JSON.stringify({ output: ref.output, shape: [n, classes], outputs: Buffer.from(actual.buffer).toString('base64') }));
  }
  const ok = sameClass === n && maxDiff <= tolerance;
  const accuracy = ref.labels.length === n ? `, ONNX Runtime accuracy ${(100 * correct / n).toFixed(2)}%` : '';
  const against = given ? ` against ${given}` : '';
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${modelPath}${against}: ${n} inputs (${ref.source}); same class ${sameClass}/${n}; ` +
    `max |${outputName} difference| ${maxDiff.toExponential(2)} (input ${worst}, tolerance ${tolerance})${accuracy}`);
  return ok;
}

const args = process.argv.slice(2);
let tolerance = 1e-4, writeOutputs = false;
const models = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tolerance') tolerance = Number(args[++i]);
  else if (args[i] === '--write-outputs') writeOutputs = true;
  else models.push(args[i]);
}
if (models.length === 0 || !(tolerance > 0)) {
  console.error('usage: node check.mjs [--tolerance 1e-4] [--write-outputs] MODEL.onnx[=REFERENCE.json]...');
  process.exit(2);
}
let passed = 0, failed = 0;
for (const model of models) {
  try {
    if (await check(model, tolerance, writeOutputs)) passed++; else failed++;
  } catch (e) {
    console.log(`FAIL ${model}: ${e.message}`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

#!/usr/bin/env bash
# Checks SharpCnn's ONNX export against ONNX Runtime (an independent implementation):
#   1. trains models with the sharpcnn CLI: the seed CNN, LeNet-5 and a CNN with batch norm and
#      dropout briefly on the bundled digits (the issue's "model trained by SharpCnn"), and small
#      models that between them use every layer kind the exporter writes;
#   2. exports each with `sharpcnn export-onnx --reference N` (N test images or random inputs
#      and SharpCnn's outputs for them);
#   3. validates each file with the ONNX checker when Debian's python3-onnx is installed;
#   4. runs each in ONNX Runtime (npm onnxruntime-node) and requires the same class for every
#      input and every output within 1e-4 (check.mjs), with ONNX Runtime's graph optimizations
#      on (what users get) and off (the operators as written);
#   4b. a colour model (augmentation, per-channel normalisation, [N, 3, 32, 32]) trained on a generated
#      colour task (make_colour_task.py, CIFAR-10's layout) must learn it and match within 1e-5;
#   5. checks the importer the same way: models made by PyTorch (the committed fixtures) and by
#      the onnx package (make_import_cases.py, when python3-onnx is installed) are imported with
#      `sharpcnn import-onnx`, SharpCnn computes them on test images, and ONNX Runtime runs the
#      original files on the same images.
# Usage: tests/onnx-check/run.sh [WORK_DIR]   (default: a fresh temporary folder)
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"

dotnet build -c Release src/SharpCnn.Cli --nologo -v quiet
cli=(dotnet src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli.dll)
(cd tests/onnx-check && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

train() { # name, then train options
  local name="$1"; shift
  echo "== training $name"
  "${cli[@]}" train "$@" --output "$work/$name.scnn" | tail -n 2
}

# The models trained by SharpCnn (checked on all 2,000 bundled test images).
train seed-cnn --model seed-cnn --epochs 1 --seed 7
train lenet5 --model lenet5 --epochs 1 --seed 7
train seed-fc2-double --model seed-fc2 --epochs 1 --precision double --seed 7
# Coverage: between them every exportable layer kind (conv with pads, strides and a connection
# table; max/mean pooling and subsampling in both edge modes; dense; relu, sigmoid, tanh;
# flatten; identity; minusmax and divnorm on vectors and on maps; crop), and all three losses.
short=(--epochs 1 --limit 2000 --test-limit 100 --lr 0.01 --seed 3)
train cover-a --model "crop25x23,conv3x4x5:s2:p1-0-2-1,maxpool3:s2:pad,relu,conv2x2x4:table=11000.00111.10101.01010,sigmoid,meanpool2x3:s2:pad,flatten,dense12,tanh,dense10,minusmax" "${short[@]}"
train cover-b --model "conv5x5x6:full,tanh,subsample3:pad,relu,maxpool2,meanpool2,flatten,dense20,identity,sigmoid,dense10,divnorm" --loss softmax-mse "${short[@]}"
train cover-c --model "flatten,dense36,relu,conv3x3x4:same,tanh,maxpool2:pad,subsample2:pad,minusmax,divnorm,meanpool1,conv1x1x10" "${short[@]}"
train cover-d --model "conv3x3x3:s2,minusmax,divnorm,maxpool2:pad,crop5x4,flatten,dense10" --loss mse "${short[@]}"
# Batch norm (per channel after convolutions with the default and with other momentum and epsilon, per
# feature after a dense layer) and dropout, trained on the digits so the running statistics are the data's.
train bn-dropout --model "conv5x5x8:same,batchnorm,relu,maxpool2,dropout0.25,conv3x3x16,batchnorm:m0.01:e0.001,relu,maxpool2,flatten,dense64,batchnorm,relu,dropout0.5,dense10" --epochs 1 --limit 4000 --lr 0.05 --seed 3

# Leaky ReLU (LeakyRelu with its alpha), on maps and on vectors.
train leaky --model "conv3x3x4:same,leakyrelu0.1,maxpool2,flatten,dense32,leakyrelu0.01,dense10" "${short[@]}"

# Colour: a 3-channel model with augmentation and per-channel normalisation (measured on the training
# set) on a generated colour task written in CIFAR-10's layout; it must learn it well above chance
# (10 %), and ONNX Runtime must give its probabilities within 1e-5 on [N, 3, 32, 32] inputs of pixel / 255.
/usr/bin/python3 tests/onnx-check/make_colour_task.py "$work/colour-task"
train colour --data "$work/colour-task" --model "randflip,randcrop2,normalize,conv3x3x16:same,relu,maxpool2,conv3x3x32:same,relu,maxpool2,flatten,dense10" \
  --epochs 2 --lr 0.003 --seed 3
"${cli[@]}" eval "$work/colour.scnn" --data "$work/colour-task" | tee "$work/colour-eval.txt" | grep '^accuracy'
/usr/bin/python3 - "$work/colour-eval.txt" <<'EOF'
import re, sys
accuracy = float(re.search(r"^accuracy (\d+\.\d+) %", open(sys.argv[1]).read(), re.M).group(1))
print(f"ok   colour task: {accuracy:.2f} % test accuracy (chance 10 %)" if accuracy >= 80 else f"FAIL colour task: {accuracy:.2f} % test accuracy")
sys.exit(0 if accuracy >= 80 else 1)
EOF
"${cli[@]}" export-onnx "$work/colour.scnn" "$work/colour.onnx" --reference 1000 --data "$work/colour-task"

models=()
for name in seed-cnn lenet5 seed-fc2-double bn-dropout cover-a cover-b cover-c cover-d leaky; do
  count=2000
  [[ $name == cover-* || $name == leaky ]] && count=300
  "${cli[@]}" export-onnx "$work/$name.scnn" "$work/$name.onnx" --reference "$count"
  models+=("$work/$name.onnx")
done

if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
  echo "== ONNX checker (python3-onnx)"
  /usr/bin/python3 - "${models[@]}" "$work/colour.onnx" <<'EOF'
import sys, onnx
for path in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(path), full_check=True)
    print(f"ok   {path}: valid ONNX (full check, with shape inference)")
EOF
else
  # CI installs python3-onnx (.ci/run); elsewhere the checker and the onnx-made import cases are optional.
  [[ "${CI:-}" == true ]] && { echo "python3-onnx is missing in CI" >&2; exit 1; }
  echo "== ONNX checker and onnx-made import cases skipped: Debian's python3-onnx is not installed"
fi

# Import: original ONNX file → sharpcnn import-onnx → SharpCnn's outputs (written by export-onnx
# --reference) → compared with ONNX Runtime running the original file.
fixtures=tests/SharpCnn.Tests/Formats/Onnx/Fixtures
originals=("$fixtures/pytorch-lenet.onnx:ce" "$fixtures/pytorch-variants.onnx:mse" "$fixtures/pytorch-batchnorm.onnx:ce")
if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
  echo "== import cases (python3-onnx)"
  /usr/bin/python3 tests/onnx-check/make_import_cases.py "$work/cases"
  originals+=("$work/cases/pool-edges.onnx:ce" "$work/cases/pad-group-gemm.onnx:mse" "$work/cases/reshape-matmul.onnx:ce" "$work/cases/batchnorm.onnx:ce")
fi
imports=()
for entry in "${originals[@]}"; do
  original="${entry%:*}" loss="${entry##*:}"   # loss ce: the graph ends in Softmax; mse: raw scores
  name="imported-$(basename "$original" .onnx)"
  echo "== importing $original"
  "${cli[@]}" import-onnx "$original" "$work/$name.scnn" --loss "$loss" | grep -E '^(read|wrote) '
  "${cli[@]}" export-onnx "$work/$name.scnn" "$work/$name.onnx" --reference 1000 >/dev/null
  imports+=("$original=$work/$name.reference.json")
done

for level in all disabled; do
  echo "== ONNX Runtime (graph optimizations: $level)"
  ORT_OPT=$level node tests/onnx-check/check.mjs --tolerance 1e-4 "${models[@]}" "${imports[@]}"
  ORT_OPT=$level node tests/onnx-check/check.mjs --tolerance 1e-5 "$work/colour.onnx"
done

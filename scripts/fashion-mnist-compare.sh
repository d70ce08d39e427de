#!/usr/bin/env bash
# The Fashion-MNIST image-folder check that .ci/run makes (needs Debian's dataset-fashion-mnist):
#   1. writes the 70,000 images out as a PNG folder and a JPEG (quality 90) folder
#      (scripts/fashion-mnist-folders.cs write), timed;
#   2. loads the PNG folder back through SharpCnn.Images and requires every image and label to
#      equal its IDX bytes exactly (scripts/fashion-mnist-folders.cs check), timing the load;
#   3. trains the same short recipe with the same seed from the IDX files, the PNG folder and the
#      JPEG folder, and requires the three test accuracies to lie within 0.5 points of each other.
# Usage: scripts/fashion-mnist-compare.sh [WORK_DIR] [IDX_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
idx="${2:-/usr/share/datasets/fashion-mnist}"
mkdir -p "$work"

echo "== writing Fashion-MNIST as PNG and JPEG image folders into $work"
dotnet run scripts/fashion-mnist-folders.cs -- write "$work" "$idx"
echo "== reading them back (every PNG image must equal its IDX bytes)"
dotnet run scripts/fashion-mnist-folders.cs -- check "$work" "$idx"

dotnet build -c Release src/SharpCnn.Cli --nologo -v quiet
cli=(dotnet src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli.dll)
# A short recipe, the same for the three sources: a small CNN, three epochs of Adam with a cosine schedule
# (the decay to 0 settles the last epoch, so the three runs, which see the images in different orders, differ
# by less than with a constant rate: 2 epochs at a constant 0.002 gave 0.77 points between IDX and PNG once).
recipe=(--model "conv5x5x16:same,relu,maxpool2,conv5x5x32:same,relu,maxpool2,flatten,dense10" --epochs 3 --lr-schedule cosine --batch 64 --lr 0.002 --seed 5 --json)
declare -A accuracy
for source in idx png jpeg; do
  data="$idx"
  [[ $source != idx ]] && data="$work/$source"
  echo "== training from $source ($data)"
  start=$(date +%s)
  "${cli[@]}" train --data "$data" "${recipe[@]}" > "$work/train-$source.jsonl"
  accuracy[$source]=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["test_accuracy"])' "$work/train-$source.jsonl")
  echo "   test accuracy ${accuracy[$source]} ($(( $(date +%s) - start )) s)"
done
python3 - "${accuracy[idx]}" "${accuracy[png]}" "${accuracy[jpeg]}" <<'PY'
import sys
idx, png, jpeg = map(float, sys.argv[1:])
spread = max(idx, png, jpeg) - min(idx, png, jpeg)
print(f"test accuracy: IDX {idx:.4f}, PNG folder {png:.4f}, JPEG folder {jpeg:.4f}; largest difference {100 * spread:.2f} points (allowed: 0.5)")
sys.exit(0 if spread <= 0.005 else 1)
PY

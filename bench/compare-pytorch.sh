#!/usr/bin/env bash
# SharpCnn against its strongest peers on the same machine, the same network, batch sizes and thread count, in
# one run: PyTorch for training, ONNX Runtime (C#, bench/OnnxRuntimePeer, on the model export-onnx writes) for
# inference.
#
#   bash bench/compare-pytorch.sh [--threads N] [--seconds S] [--rounds R] [--repeats K] [--no-epoch] [--isa avx2]
#
# What it does:
#   1. Installs Debian's python3-torch (PyTorch 1.13), libopenblas0-openmp and dataset-fashion-mnist with
#      apt-get when they are missing (needs root or sudo).
#   2. Configures PyTorch at its best on this kind of machine: oneDNN for the convolutions (built in), and
#      OpenBLAS with OpenMP for the matrix products, loaded ahead of the reference BLAS by putting its library
#      folder (from `dpkg -L libopenblas0-openmp`) first on LD_LIBRARY_PATH, and torch.set_num_threads(N).
#      OpenBLAS's kernels are chosen from the CPU flags: OPENBLAS_CORETYPE=SkylakeX only where /proc/cpuinfo
#      lists avx512f (OpenBLAS 0.3.21 does not recognise newer AVX-512 CPUs and would otherwise fall back to
#      SSE3 kernels), Haswell (AVX2 + FMA) where only avx2 and fma are listed (an AMD Zen 3 is not always
#      recognised either), and OpenBLAS's own detection otherwise. Forcing SkylakeX on a CPU without AVX-512
#      kills PyTorch with SIGILL. Debian's own /usr/bin/python3 runs it (a pyenv python3 earlier on PATH
#      does not see Debian's packages).
#   3. Builds SharpCnn (Release) and, measure by measure, runs PyTorch (bench/pytorch_seed_cnn.py) and then
#      `sharpcnn bench` with the same settings, one after the other, never both at once. The training measures
#      run --repeats times (2 unless set), PyTorch and SharpCnn alternating (P S P S), and each side's figure is
#      its best over all of them: a slow spell of a shared machine then costs neither side its figure. The 1 -> N
#      thread speed-up is the best N-thread rate over the best 1-thread rate.
#   4. Runs one full Fashion-MNIST training epoch (batch 64) in each, in a fresh process, for peak RSS, and one
#      epoch of the Fashion-MNIST recipe (its model with batch norm and dropout, batch 128, SGD with momentum 0.9,
#      lr 0.05, weight decay 5e-4: ExperimentCatalog.FashionSpec / FashionOptions) in each.
#   5. Prints one line per measure: PyTorch, SharpCnn, and the ratio SharpCnn / PyTorch. Training is
#      measured with Adam against Adam and with plain SGD against plain SGD.
#      Below the table, the cores' round trip that each SharpCnn scaling run measured just before its best
#      N-thread round (sharpcnn bench's core_round_trip_ns): a virtual machine's host may move its two cores
#      from one chip to two for a while, and a speed-up measured then says so.
#   A peer that fails (a crash, a missing package) stops the script with its exit status and its last
#   lines of output: never a blank in the table.
#
# --isa avx2 measures both as on a CPU without AVX-512 (for a table of an AVX2-only machine measured on an
# AVX-512 one): SharpCnn with DOTNET_EnableAVX512=0 (Vector512 off), PyTorch with OPENBLAS_CORETYPE=Haswell and
# ONEDNN_MAX_CPU_ISA=AVX2 (oneDNN's own limit) and ATEN_CPU_CAPABILITY=avx2 (its own vectorised operators).
# ONNX Runtime has no such setting: it still uses its AVX-512 kernels, so its inference rows then favour the peer.
#
# Run it on an otherwise idle machine: two benchmarks at once on two cores ruin both (the script warns when
# the load average says something else is running). Figures drift with the machine; compare the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

threads=2
seconds=3
rounds=3
epoch=1
isa=""
repeats=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --no-epoch) epoch=0; shift ;;
    --isa) isa="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for value in threads rounds repeats; do
  [[ "${!value}" =~ ^[1-9][0-9]*$ ]] || { echo "--$value must be a whole number of at least 1, got '${!value}'" >&2; exit 2; }
done

# 1. Packages.
packages=(python3-torch libopenblas0-openmp dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing ${missing[*]} with apt-get"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. PyTorch at its best.
openblas_lib=$(dpkg -L libopenblas0-openmp | grep -E '/libopenblas\.so\.0$' | head -n 1)
fashion_images=$(dpkg -L dataset-fashion-mnist | grep -E '/train-images-idx3-ubyte(\.gz)?$' | head -n 1)
if [[ -z "$openblas_lib" || -z "$fashion_images" ]]; then
  echo "could not find OpenBLAS or Fashion-MNIST in the installed packages" >&2
  exit 1
fi
openblas_dir=$(dirname "$openblas_lib")
fashion_dir=$(dirname "$fashion_images")
python=/usr/bin/python3
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has_flag() { [[ " $flags " == *" $1 "* ]]; }
coretype=""
if has_flag avx512f; then coretype=SkylakeX
elif has_flag avx2 && has_flag fma; then coretype=Haswell
fi
isa_torch=()
isa_sharp=()
case "$isa" in
  "") ;;
  avx2)
    if ! has_flag avx2 || ! has_flag fma; then echo "--isa avx2: this CPU has no AVX2 and FMA" >&2; exit 2; fi
    coretype=Haswell
    isa_torch=(ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
    isa_sharp=(DOTNET_EnableAVX512=0) ;;
  *) echo "--isa: only avx2 is supported, got '$isa'" >&2; exit 2 ;;
esac
cpu_flags=""
for f in avx512f avx512vl avx512_bf16 avx2 fma sse4_2; do has_flag "$f" && cpu_flags+="$f "; done
# Runs PyTorch with the arguments given; on failure prints what it said and stops the script.
pytorch() {
  local out status=0
  out=$(env LD_LIBRARY_PATH="$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ${coretype:+OPENBLAS_CORETYPE=$coretype} "${isa_torch[@]}" \
    OMP_NUM_THREADS="$threads" "$python" bench/pytorch_seed_cnn.py --threads "$threads" "$@" 2>&1) || status=$?
  if [[ $status -ne 0 ]]; then
    echo "PyTorch failed (exit $status$([[ $status -eq 132 ]] && echo ': SIGILL, an instruction this CPU lacks')) running: bench/pytorch_seed_cnn.py $*" >&2
    echo "$out" | tail -n 20 >&2
    exit 1
  fi
  echo "$out" | grep -v '^#' || true
}

# 3. SharpCnn.
echo "building SharpCnn and the ONNX Runtime peer (Release)"
dotnet build -c Release src/SharpCnn.Cli -v quiet -nologo >/dev/null
dotnet build -c Release bench/OnnxRuntimePeer -v quiet -nologo >/dev/null
# The inference peer's model: the seed CNN as `sharpcnn export-onnx` writes it (the weights do not change the speed).
onnx_dir=$(mktemp -d)
trap 'rm -rf "$onnx_dir"' EXIT
dotnet src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli.dll train --epochs 1 --limit 256 --plain --output "$onnx_dir/seed-cnn.scnn" >/dev/null
dotnet src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli.dll export-onnx "$onnx_dir/seed-cnn.scnn" "$onnx_dir/seed-cnn.onnx" >/dev/null
onnxruntime() {
  local out status=0
  out=$(dotnet bench/OnnxRuntimePeer/bin/Release/net10.0/OnnxRuntimePeer.dll "$onnx_dir/seed-cnn.onnx" --threads "$threads" "$@" 2>&1) || status=$?
  if [[ $status -ne 0 ]]; then
    echo "ONNX Runtime failed (exit $status) running: OnnxRuntimePeer $*" >&2
    echo "$out" | tail -n 20 >&2
    exit 1
  fi
  echo "$out" | grep -v '^#' || true
}
sharpcnn() {
  local out status=0
  out=$(env "${isa_sharp[@]}" dotnet src/SharpCnn.Cli/bin/Release/net10.0/SharpCnn.Cli.dll bench --threads "$threads" --tsv "$@" 2>&1) || status=$?
  if [[ $status -ne 0 ]]; then
    echo "sharpcnn bench failed (exit $status) running: bench $*" >&2
    echo "$out" | tail -n 20 >&2
    exit 1
  fi
  echo "$out"
}

load=$(cut -d' ' -f1 /proc/loadavg)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), flags: ${cpu_flags:-none of avx512f avx2 fma}, load average $load"
if awk -v l="$load" 'BEGIN { exit !(l > 0.7) }'; then
  echo "warning: the load average is $load: something else is running, and the figures will be noisy" >&2
fi
echo "PyTorch: $("$python" -c 'import torch; print(torch.__version__)'), OpenBLAS from $openblas_dir, OPENBLAS_CORETYPE=${coretype:-(OpenBLAS detects)}${isa_torch[*]:+ ${isa_torch[*]}}, $threads threads"
echo "SharpCnn: $(git rev-parse --short HEAD 2>/dev/null || echo 'unknown commit'), $threads threads${isa_sharp[*]:+, ${isa_sharp[*]}}; each training figure is the best of $repeats runs (alternating with PyTorch's) of $rounds rounds of $seconds s ($((2 * rounds)) for plain SGD at batch 1; the scaling rounds alternate 1 and $threads threads)"
[[ -n "$isa" ]] && echo "instruction set limited to $isa on both training sides (ONNX Runtime cannot be limited and keeps its widest kernels)"
echo

declare -A torch_value sharp_value
collect() { # collect SIDE [PREFIX] <<< tsv lines; a rate (samples/s) keeps the best of all the runs that reported it
  local side="$1" prefix="${2:-}" key value unit old
  while IFS=$'\t' read -r key value unit; do
    [[ -z "$key" || "$key" == \#* ]] && continue
    if [[ "$side" == torch ]]; then old="${torch_value[$prefix$key]:-}"; else old="${sharp_value[$prefix$key]:-}"; fi
    if [[ "$unit" == samples/s && -n "$old" ]] && awk -v a="$old" -v b="$value" 'BEGIN { exit !(a >= b) }'; then value=$old; fi
    if [[ "$side" == torch ]]; then torch_value[$prefix$key]=$value; else sharp_value[$prefix$key]=$value; fi
  done
}

round_trips=() # the cores' round trip before the best N-thread round of each SharpCnn scaling run
for repeat in $(seq "$repeats"); do
for measure in train64 train1 infer256 scaling; do
  echo "measuring $measure: PyTorch, then SharpCnn (Adam; run $repeat of $repeats)"
  out=$(pytorch --only "$measure" --seconds "$seconds" --rounds "$rounds") || exit 1
  collect torch <<< "$out"
  out=$(sharpcnn --only "$measure" --seconds "$seconds" --rounds "$rounds") || exit 1
  collect sharp <<< "$out"
  if [[ $measure == scaling ]]; then
    round_trips+=("$(awk -F'\t' '$1 == "core_round_trip_ns" { if ($2 == "NaN") print "-"; else printf "%.0f", $2 }' <<< "$out")")
  fi
done
# Batch 1 is the noisiest measure on a shared machine (a step is a millisecond or two, so every pause of a core
# shows): plain SGD at batch 1 gets twice the rounds, on both sides alike.
for measure in train64 train1; do
  echo "measuring $measure: PyTorch, then SharpCnn (plain SGD; run $repeat of $repeats)"
  measure_rounds=$rounds
  [[ $measure == train1 ]] && measure_rounds=$((2 * rounds))
  out=$(pytorch --optimizer sgd --only "$measure" --seconds "$seconds" --rounds "$measure_rounds") || exit 1
  collect torch sgd_ <<< "$out"
  out=$(sharpcnn --optimizer sgd --only "$measure" --seconds "$seconds" --rounds "$measure_rounds") || exit 1
  collect sharp sgd_ <<< "$out"
done
# The Fashion-MNIST recipe's model (ExperimentCatalog.FashionSpec; RecipeSpecTests holds this copy to it) and
# training (SGD momentum 0.9, lr 0.05, weight decay 5e-4, batch 128).
recipe_spec="conv5x5x32:same,batchnorm,relu,maxpool2,dropout0.1,conv5x5x64:same,batchnorm,relu,maxpool2,dropout0.25,flatten,dense1024,batchnorm,relu,dropout0.5,dense10"
echo "measuring the Fashion-MNIST recipe's model at batch 128: PyTorch, then SharpCnn (SGD with momentum; run $repeat of $repeats)"
out=$(pytorch --model recipe --optimizer momentum --batch 128 --only train64 --seconds "$seconds" --rounds "$rounds") || exit 1
collect torch recipe_ <<< "$out"
out=$(sharpcnn --model "$recipe_spec" --optimizer momentum --batch 128 --only train64 --seconds "$seconds" --rounds "$rounds") || exit 1
collect sharp recipe_ <<< "$out"
done
# The speed-up from the best rates over all the runs (each side's own N-thread and 1-thread rounds alternated).
for side in torch sharp; do
  if [[ $side == torch ]]; then many=${torch_value[train_b64]:-}; one=${torch_value[train_b64_1thread]:-}; else many=${sharp_value[train_b64]:-}; one=${sharp_value[train_b64_1thread]:-}; fi
  [[ -n "$many" && -n "$one" ]] || { echo "no 1-thread or $threads-thread figure from $side" >&2; exit 1; }
  ratio=$(awk -v a="$many" -v b="$one" 'BEGIN { printf "%.6f", a / b }')
  if [[ $side == torch ]]; then torch_value[scaling]=$ratio; else sharp_value[scaling]=$ratio; fi
done
echo "measuring inference at batch 256 and 1: ONNX Runtime, then SharpCnn"
declare -A ort_value
out=$(onnxruntime --batch 256,1 --seconds "$seconds" --rounds "$rounds") || exit 1
while IFS=$'\t' read -r key value unit; do [[ -n "$key" ]] && ort_value[$key]=$value; done <<< "$out"
out=$(sharpcnn --only infer256,infer1 --seconds "$seconds" --rounds "$rounds") || exit 1
collect sharp <<< "$out"
out=$(sharpcnn --only alloc,identical --seconds "$seconds" --rounds 1) || exit 1
collect sharp <<< "$out"
torch_rss_epoch=""
if [[ $epoch -eq 1 ]]; then
  echo "one Fashion-MNIST epoch (60,000 images, batch 64) in each, for peak RSS"
  unset 'torch_value[peak_rss]' 'sharp_value[peak_rss]'
  out=$(pytorch --epoch-data "$fashion_dir") || exit 1
  collect torch <<< "$out"
  out=$(sharpcnn --epoch-data "$fashion_dir") || exit 1
  collect sharp <<< "$out"
  torch_rss_epoch=1
  echo "one epoch of the Fashion-MNIST recipe (60,000 images, batch 128, SGD with momentum) in each"
  out=$(pytorch --epoch-data "$fashion_dir" --model recipe --optimizer momentum --batch 128) || exit 1
  collect torch recipe_epoch_ <<< "$out"
  out=$(sharpcnn --epoch-data "$fashion_dir" --model "$recipe_spec" --optimizer momentum --batch 128) || exit 1
  collect sharp recipe_epoch_ <<< "$out"
fi

# 5. The table.
echo
printf '%-44s %14s %14s %9s   %s\n' "measure" "PyTorch" "SharpCnn" "ratio" "target"
row() { # row LABEL KEY UNIT TARGET
  local t="${torch_value[$2]:-}" s="${sharp_value[$2]:-}" ratio="-"
  if [[ -z "$t" || -z "$s" ]]; then
    echo "no figure for '$2' from $([[ -z "$t" ]] && echo PyTorch || echo SharpCnn): a measure did not report" >&2
    exit 1
  fi
  if [[ -n "$t" && -n "$s" ]]; then ratio=$(awk -v a="$s" -v b="$t" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'); fi
  printf '%-44s %14s %14s %9s   %s\n' "$1" "$(fmt "$t" "$3")" "$(fmt "$s" "$3")" "$ratio" "$4"
}
fmt() { [[ -z "$1" ]] && { echo "-"; return; }; awk -v v="$1" -v u="$2" 'BEGIN { if (u == "x") printf "%.2fx", v; else printf "%.0f %s", v, u }'; }
row "training, batch 64, Adam, $threads threads (samples/s)" train_b64 "/s" ">= 1.6x (issue 13)"
row "training, batch 1, Adam, $threads threads (samples/s)" train_b1 "/s" ""
row "training, batch 64, plain SGD (samples/s)" sgd_train_b64 "/s" ""
row "training, batch 1, plain SGD (samples/s)" sgd_train_b1 "/s" ">= 3x (issue 13)"
row "Fashion recipe model, batch 128, momentum (/s)" recipe_train_b128 "/s" ">= 1.5x (issue 13)"
row "inference, batch 256, $threads threads (samples/s)" infer_b256 "/s" ""
row "training, batch 64, 1 thread (samples/s)" train_b64_1thread "/s" ""
row "speed-up 1 -> $threads threads (batch 64)" scaling "x" "SharpCnn >= 1.85x"
if [[ -n "$torch_rss_epoch" ]]; then
  row "Fashion-MNIST epoch, batch 64 (samples/s)" epoch_rate "/s" ""
  row "peak RSS over that epoch (MiB)" peak_rss "MiB" "<= 0.5x"
  row "Fashion recipe epoch, batch 128 (samples/s)" recipe_epoch_epoch_rate "/s" ">= 1.5x (issue 13)"
  minutes() { awk -v r="$1" 'BEGIN { printf "%.1f min", 30 * 60000 / r / 60 }'; }
  printf '%-44s %14s %14s %9s   %s\n' "30 recipe epochs at that rate (training only)" "$(minutes "${torch_value[recipe_epoch_epoch_rate]}")" \
    "$(minutes "${sharp_value[recipe_epoch_epoch_rate]}")" "" "SharpCnn <= 20 min (issue 13)"
fi
echo
printf '%-44s %14s %14s %9s   %s\n' "measure" "ONNX Runtime" "SharpCnn" "ratio" "target"
ortrow() { # ortrow LABEL KEY TARGET
  local t="${ort_value[$2]:-}" s="${sharp_value[$2]:-}"
  if [[ -z "$t" || -z "$s" ]]; then
    echo "no figure for '$2' from $([[ -z "$t" ]] && echo 'ONNX Runtime' || echo SharpCnn): a measure did not report" >&2
    exit 1
  fi
  printf '%-44s %14s %14s %9s   %s\n' "$1" "$(fmt "$t" /s)" "$(fmt "$s" /s)" "$(awk -v a="$s" -v b="$t" 'BEGIN { printf "%.2fx", a / b }')" "$3"
}
ortrow "inference, batch 256, $threads threads (samples/s)" infer_b256 ">= 1.1x (issue 13)"
ortrow "inference, batch 1, $threads threads (samples/s)" infer_b1 ">= 1.0x (issue 13)"
echo
# Where the host put the cores during SharpCnn's scaling runs (sharpcnn bench's core_round_trip_ns): tens of ns on one chip,
# hundreds between chips without a shared L3, where every value one thread writes and the other reads is slow.
echo "cores' round trip before SharpCnn's best $threads-thread scaling round, run by run: $(IFS=,; echo "${round_trips[*]}" | sed 's/,/, /g') ns (above ~150 ns the two cores sat on chips without a shared L3)"
printf '%-44s %14s %14s\n' "bytes allocated per training step" "-" "${sharp_value[alloc_per_step]:--}"
identical="${sharp_value[identical]:-}"
printf '%-44s %14s %14s\n' "1 vs $threads threads: bit-identical weights" "not promised" "$([[ "$identical" == 1 ]] && echo yes || echo no)"

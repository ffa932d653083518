#!/usr/bin/env bash
# The GPU timing run, on a machine with a GPU, from the kit scripts/gpu-kit.sh packed (carried as
# .gpu-kit): unpacks Node, mvsr and the packages, finds a Vulkan driver, then within a deadline
#   1. names the adapter (adapter.json) and checks mvsr's WebGPU output against the wasm engine on
#      every shipped x4 model (the bench's check step);
#   2. tunes the dense-conv tiling, the default and the shared input tile first (tuning.json,
#      rewritten after every timing: scripts/tune-webgpu.mjs);
#   3. times the shipped models at the MAI setting and at 1440p output against onnxruntime-web's
#      webgpu provider, with the tiling in effect (bench-mai.json, bench-1440p.json).
# Results go to $OUT (or ./gpu-out). Each stage stops at its own timeout so a later one still runs.
#   bash scripts/gpu-run.sh [--skip-tune] [--tiling '{"px":2,"shared":true}'] [--quick --allow-emulated]
# The device tool: run(command="bash scripts/gpu-run.sh", carry=[".gpu-kit"], timeout_s=450): at most
# 150 + 2 x 120 s of stages plus unpacking, leaving a 15-minute lease room for the start and a rerun.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-out}
mkdir -p "$out"
skipTune=0; tiling=''; emulated=0; quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-tune) skipTune=1 ;;
    --allow-emulated) emulated=1 ;;  # to check the kit on SwiftShader: no timing from it means anything
    --quick) quick=1 ;;              # tiny sizes, two models: a check that every step runs
    --tiling) tiling=$2; shift ;;
    *) echo "gpu-run: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -f .gpu-kit/kit.tar.xz ] || { echo "gpu-run: .gpu-kit/kit.tar.xz is missing (make it with scripts/gpu-kit.sh and carry .gpu-kit)" >&2; exit 1; }
kit=/tmp/mvsr-gpu-kit
rm -rf "$kit" && mkdir -p "$kit"
if command -v xz >/dev/null; then xz -dc .gpu-kit/kit.tar.xz | tar -C "$kit" -xf -
else python3 -c 'import lzma, sys, shutil; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' .gpu-kit/kit.tar.xz | tar -C "$kit" -xf -; fi
export PATH="$kit/bin:$PATH"
# the kit's dist and node_modules replace the tree's only where they are the kit's (a warm machine's
# earlier call) or absent: never a developer's own
for d in dist node_modules; do
  if [ -e "$d" ] && [ ! -f "$d/.mvsr-gpu-kit" ]; then echo "gpu-run: $d exists and is not from the kit: run this on the GPU machine or in a copy of the tree" >&2; exit 1; fi
  rm -rf "$d" && cp -r "$kit/$d" "$d" && touch "$d/.mvsr-gpu-kit"
done
if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
  for f in "$kit"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"; break; fi
done
{ echo "node $(node --version) ($(command -v node))"; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"; } | tee "$out/machine.txt"

node --input-type=module -e "
const { gpuDevice, adapterOf } = await import('./dist/src/runtime/webgpu/backend.js');
await import('./dist/src/runtime/webgpu.node.js');
const d = await gpuDevice();
const a = adapterOf(d);
console.log(JSON.stringify(a));
if (a.emulated && !$emulated) { console.error('gpu-run: the adapter is an emulator (' + a.name + '): no timings'); process.exit(3); }
" > "$out/adapter.json" || { echo "gpu-run: no GPU adapter through Dawn; see $out/adapter.json" >&2; exit 3; }
cat "$out/adapter.json"

if [ "$skipTune" = 0 ]; then
  if [ "$quick" = 1 ]; then targs=(--frames 1 --reps 1 --input 12x16 --models ETDS-T,ESPCN --allow-emulated); else targs=(--frames 20 --reps 5); fi
  timeout 150 node scripts/tune-webgpu.mjs "${targs[@]}" --out "$out/tuning.json" 2> >(tee "$out/tuning.txt" >&2)
  echo "gpu-run: tuning ended ($?)"
fi
# the tiling the timing run uses: --tiling, else the tuner's best, else the default
[ -z "$tiling" ] && [ -f "$out/tuning.json" ] && tiling=$(node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (d.best) console.log(JSON.stringify(d.best.tiling))' "$out/tuning.json")
export MVSR_WEBGPU_TILING="$tiling"
echo "gpu-run: timing with tiling ${tiling:-the default}"
settings=("180x320 mai" "360x640 1440p"); bargs=()
[ "$quick" = 1 ] && { settings=("12x16 quick"); bargs=(--quick --check 7x9 --models ETDS-T,ESPCN); }
for setting in "${settings[@]}"; do
  set -- $setting
  timeout 120 node dist/src/cli/main.js bench --engines mvsr-webgpu,ort-web-webgpu --input "$1" "${bargs[@]}" --json > "$out/bench-$2.json" 2> "$out/bench-$2.txt"
  echo "gpu-run: bench $2 ended ($?)"
done
ls -la "$out"

#!/usr/bin/env bash
# Packs what the GPU timing run needs on a machine that has a GPU but no Node, no npm registry and
# perhaps no Vulkan loader (the device machines some sessions are lent): this machine's Node binary,
# the built mvsr (dist/src), the few packages the WebGPU timing imports (the `webgpu` package's
# Dawn for linux-x64, onnxruntime-web's webgpu build, yaml) and Debian's Vulkan loader. One file,
# .gpu-kit/kit.tar.xz (about 40 MB; .gpu-kit/ is ignored by git), for the run's carry list;
# scripts/gpu-run.sh unpacks and uses it there.
#   npm run build && bash scripts/gpu-kit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/src/cli/main.js ] || { echo "gpu-kit: dist/src is missing: run npm run build first" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "gpu-kit: this machine is $(uname -m); the GPU machines are x86-64" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/dist" "$stage/debs"
cp "$(readlink -f "$(command -v node)")" "$stage/bin/node"
cp -r dist/src "$stage/dist/src"
# the package files the timing run loads: nothing else of the 850 MB of node_modules
files=(
  node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64
  node_modules/onnxruntime-web/package.json node_modules/onnxruntime-web/dist/ort.webgpu.bundle.min.mjs
  node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm node_modules/onnxruntime-web/dist/ort.node.min.mjs
  node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm node_modules/onnxruntime-common
  node_modules/yaml node_modules/flatbuffers node_modules/jpeg-js
)
for f in "${files[@]}"; do
  [ -e "$f" ] || { echo "gpu-kit: $f is missing: run npm ci first" >&2; exit 1; }
  mkdir -p "$stage/$(dirname "$f")"
  cp -r "$f" "$stage/$f"
done
# Debian's Vulkan loader (the GPU machines' image may lack libvulkan.so.1); gpu-run.sh unpacks it
# only where ldconfig finds none
(cd "$stage/debs" && apt-get download libvulkan1 >/dev/null 2>&1) || echo "gpu-kit: apt-get download libvulkan1 failed; the kit relies on the GPU machine's own Vulkan loader" >&2
mkdir -p .gpu-kit
tar -C "$stage" -cf - . | xz -T2 -6 > .gpu-kit/kit.tar.xz.part
mv .gpu-kit/kit.tar.xz.part .gpu-kit/kit.tar.xz
echo "gpu-kit: .gpu-kit/kit.tar.xz, $(du -h .gpu-kit/kit.tar.xz | cut -f1) (Node $(node --version), mvsr dist/src of $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', with uncommitted changes'))"

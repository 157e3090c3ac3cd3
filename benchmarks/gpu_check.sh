#!/usr/bin/env bash
# The prepared GPU check of issue 12 (acceptance item 6), for the first session lent a CUDA GPU.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]        # from the repository root, venv active
#
# About 8 minutes on one H100/H200; every step has its own timeout, so the whole script stays
# inside a 10-minute device command and a failed step does not stop the others. Everything it
# prints also lands in OUT_DIR (default: $OUT, else ./gpu-check): copy the figures into
# docs/benchmarks.md ("GPU"). PEAK_TFLOPS is the GPU's dense bf16 peak (H100/H200 SXM: 989).
set -uo pipefail
OUT_DIR=${1:-${OUT:-gpu-check}}
PEAK_TFLOPS=${PEAK_TFLOPS:-989}
mkdir -p "$OUT_DIR"
OUT_DIR=$(realpath "$OUT_DIR")
cd "$(dirname "$0")"  # benchmarks/: decode.py imports throughput.py from here

step() {  # step NAME SECONDS COMMAND...: run with a timeout, tee to OUT_DIR/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name ($limit s): $*"
    timeout "$limit" "$@" 2>&1 | grep -v Warning | tee "$OUT_DIR/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

step environment 30 python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported())"
# 1. The issue's sizes, both length modes, bf16 autocast on both sides, compile off and on.
step throughput-256 150 python throughput.py --device cuda --lengths all --steps 40 --compile --peak-tflops "$PEAK_TFLOPS"
# 2. The MFU goal (>= 40%): d_model 512, 6+6 layers, 16k-token batches.
step throughput-512 150 python throughput.py --device cuda --lengths real --d-model 512 --heads 8 --layers 6 \
    --batch-tokens 16384 --steps 30 --compile --peak-tflops "$PEAK_TFLOPS"
# 3. Evaluation decoding: cached greedy and beam 4 against the re-run-the-decoder loop.
step decode 90 python decode.py --device cuda
# 4. Four trials sharing one GPU (resources: {gpu: 0.25}), wall time of the study.
STUDY="$OUT_DIR/gpu-share.yaml"
cat > "$STUDY" <<'YAML'
name: gpu-share
task: {type: translation, data: builtin:toylang}
model: {d_model: 256, heads: 4, encoder_layers: 3, decoder_layers: 3, ffn_dim: 1024}
train: {lr: 1.0e-3, max_steps: 600, eval_every: 200, batch_tokens: 4096, precision: auto, device: cuda}
resources: {cpu: 2, gpu: 0.25}
objective: {metric: bleu, mode: max}
search:
  method: random
  num_samples: 4
  max_concurrent: 4
  parameters:
    train.lr: {distribution: log_uniform, min: 3.0e-4, max: 3.0e-3}
YAML
step study 180 bash -c "cd .. && /usr/bin/time -f 'study wall %e s' tfcli study start '$STUDY' --tracking-uri 'sqlite:///$OUT_DIR/mlflow.db' --storage '$OUT_DIR/ray' --no-baselines"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee "$OUT_DIR/nvidia-smi.txt"

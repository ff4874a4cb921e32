#!/usr/bin/env bash
# The GPU checks behind docs/benchmarks.md's GPU figures, as one script for a lent GPU machine
# (one GPU, torch preinstalled, no network; torchattacks carried as a wheel in .whl/ if missing):
#   1. the attack stage on one GPU (benchmarks/bench_gpu.py: images/s, rnnviz vs torchattacks + hooks);
#   2. two torchrun ranks on that GPU vs one process: results.json compared number by number;
#   3. whole runs of a ResNet-50 pair at two sizes: per-image cost of each stage (results.json timings),
#      the base of docs/benchmarks.md's full-validation-set estimate;
#   4. the attack stage's peak memory at 224 px on 1,000 vs 4,000 images (benchmarks/bench_data.py).
# Usage: OUT=folder [STEPS="1 2 3 4"] bash benchmarks/gpu_check.sh   (output in $OUT/gpu_check.log)
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
fi
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1 RNNVIZ_OFFLINE=1 RNNVIZ_CACHE=/tmp/rnnviz-cache
LOG="$OUT/gpu_check.log"
say() { echo "== $* ($(date +%T))" | tee -a "$LOG"; }
want() { [[ " ${STEPS:-1 2 3 4} " == *" $1 "* ]]; }

say "machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc
  python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"; } 2>&1 | tee -a "$LOG"

if want 1; then
say "1. attack stage on one GPU"
python3 benchmarks/bench_gpu.py --images 512 --batch-size 128 --repeats 2 --json "$OUT/bench_gpu.json" 2>&1 | tee -a "$LOG"

fi
if want 2; then
say "2. torchrun: two ranks on cuda:0 vs one process"
FASHION="--preset fashion --classes sneaker,bag,sandal --n-images 11 --n-examples 1 --top-k 3 --eps 0,0.05,0.1
  --attack fgsm,pgd --bootstrap 50 --patch 1,5 --exemplars 2 --quality none --no-pdf --quiet --debug --device cuda:0"
python3 -m rnnviz $FASHION --out /tmp/one 2>&1 | tail -12 | tee -a "$LOG"
torchrun --standalone --nproc-per-node 2 -m rnnviz $FASHION --out /tmp/two 2>&1 | tail -3 | tee -a "$LOG"
python3 benchmarks/compare_results.py /tmp/one/results.json /tmp/two/results.json 2>&1 | tee -a "$LOG"
python3 -m rnnviz ${FASHION/cuda:0/cpu} --out /tmp/cpu 2>&1 | tail -1 | tee -a "$LOG"
echo "GPU (one process) vs CPU:" | tee -a "$LOG"
python3 benchmarks/compare_results.py /tmp/one/results.json /tmp/cpu/results.json 2>&1 | tee -a "$LOG"

fi
if want 3; then
say "3. whole runs, ResNet-50 pair (random init), 224 px, eps 0,0.01,0.1"
python3 -c "from benchmarks.bench_data import make_folder; from pathlib import Path; make_folder(Path('/tmp/val'), 1024)"
for n in 32 256; do
  t0=$(date +%s.%N)
  python3 -m rnnviz --preset imagenet --standard random:resnet50 --robust random:resnet50 --data /tmp/val \
    --classes n01440764,n01443537,n02007558,n02123045 --n-images $n --eps 0,0.01,0.1 --device cuda \
    --quality none --no-pdf --workers 8 --batch-size 128 --out /tmp/run$n --quiet --debug 2>&1 | tail -12 | tee -a "$LOG"
  t1=$(date +%s.%N)
  python3 -c "import json,sys; r=json.load(open('/tmp/run$n/results.json')); print($n*4, 'images: wall', round($t1-$t0,1), 's; stages', r['timings'])" 2>&1 | tee -a "$LOG"
  cp /tmp/run$n/results.json "$OUT/run$n.json" 2>/dev/null
done

fi
if want 4; then
say "4. attack-stage memory at 224 px"
python3 benchmarks/bench_data.py --images 0 --attack-rss 1000,4000 --attack-size 224 --device cuda --batch-size 128 2>&1 | tee -a "$LOG"
fi
say "done"

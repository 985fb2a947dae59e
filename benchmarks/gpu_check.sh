#!/usr/bin/env bash
# The GPU check of issue #13, in one run (about 3 to 5 minutes on an H200): the CUDA contract
# tests, then the GPU benchmark. Run from the repository root:
#
#     bash benchmarks/gpu_check.sh
#
# Everything it writes goes to "$OUT" if set, else ./gpu-out: pytest's log and JUnit XML, the
# benchmark's log, docs/performance/results-cuda.json, cuda.svg and the updated performance.md.
# Wheels in .whl/ (kornia, kornia_rs, monai, pytorch-metric-learning, sybil, hypothesis) are
# installed first into /tmp/site, without touching the machine's torch.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
started=$SECONDS
say() { echo "[gpu_check $((SECONDS - started)) s] $*"; }

if compgen -G ".whl/*.whl" > /dev/null; then
    say "installing .whl/*.whl into /tmp/site"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}

python3 - <<'EOF'
import importlib, torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "device",
      torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
for name in ("numpy", "triton", "torchvision", "kornia", "monai", "pytorch_metric_learning",
             "hypothesis", "sybil"):
    try:
        module = importlib.import_module(name)
        print(f"  {name} {getattr(module, '__version__', '?')}")
    except Exception as error:
        print(f"  {name}: not importable ({type(error).__name__})")
EOF

# (a) The CUDA contract tests. The test files import tests/harness.py, which needs hypothesis.
# The repository's conftest.py collects the docs with sybil: --noconftest skips it (and
# tests/conftest.py's parametrization, which only the LossContract classes use, not these
# files); -p no:cacheprovider writes nothing into the tree.
tests=(tests/test_no_sync.py tests/test_binary_cross_entropy.py::test_cuda_autocast_refuses_torch_bce)
if python3 -c "import pytest, hypothesis" 2> /dev/null; then
    say "contract tests on CUDA: ${tests[*]}"
    timeout 240 python3 -m pytest "${tests[@]}" -q --maxfail=25 -p no:randomly -p no:cacheprovider \
        --noconftest -o addopts="" -o minversion=1 -W "ignore::DeprecationWarning" \
        --junitxml="$OUT/pytest.xml" 2>&1 | tee "$OUT/pytest.log" | tail -25
    say "pytest exit status ${PIPESTATUS[0]}"
else
    say "pytest or hypothesis is not importable: contract tests skipped (put wheels in .whl/)"
fi

# (b) The GPU benchmark: every case of the issue's table; libraries that do not import are left
# out and listed in the output.
say "benchmark: python3 benchmarks/run.py --device cuda"
timeout 330 python3 benchmarks/run.py --device cuda --threads 8 2>&1 | tee "$OUT/benchmark.log"
say "benchmark exit status ${PIPESTATUS[0]}"
mkdir -p "$OUT/docs/performance"
cp -f docs/performance/results-cuda.json docs/performance/cuda.svg "$OUT/docs/performance/" \
    2> /dev/null
cp -f docs/performance.md "$OUT/docs/" 2> /dev/null
say "done; results in $OUT"
ls -la "$OUT" "$OUT/docs/performance" 2> /dev/null

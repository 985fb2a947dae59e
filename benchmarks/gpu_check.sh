#!/usr/bin/env bash
# The GPU check of issue #13, in one run (about 3 to 5 minutes on an H200): the GPU benchmark,
# then the CUDA tests. Run from the repository root:
#
#     bash benchmarks/gpu_check.sh
#
# Everything it writes goes to "$OUT" if set, else ./gpu-out: pytest's log and JUnit XML, the
# benchmark's log and docs/performance/results-cuda.json (the Performance page is drawn from it).
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

# Time limits (seconds), settable for a short lease: the benchmark first, its figures being what a
# CPU cannot give; it writes its JSON after every case, so a run cut short keeps what it measured.
BENCH_TIMEOUT="${BENCH_TIMEOUT:-330}"
TEST_TIMEOUT="${TEST_TIMEOUT:-240}"
BENCH_ARGS="${BENCH_ARGS:-}"

# (a) The GPU benchmark: every case of the issue's table; libraries that do not import are left
# out and listed in the output.
say "benchmark: python3 benchmarks/run.py --device cuda $BENCH_ARGS (limit $BENCH_TIMEOUT s)"
# shellcheck disable=SC2086
timeout "$BENCH_TIMEOUT" python3 benchmarks/run.py --device cuda --threads 8 $BENCH_ARGS 2>&1 \
    | tee "$OUT/benchmark.log"
say "benchmark exit status ${PIPESTATUS[0]}"
mkdir -p "$OUT/docs/performance"
cp -f docs/performance/results-cuda.json "$OUT/docs/performance/" 2> /dev/null

# (b) The CUDA tests: every loss on CUDA against the CPU in float64 (float32 and bfloat16, values
# and gradients), with no host sync (set_sync_debug_mode("error")); the new losses against
# torch's CUDA kernels. The test files import tests/harness.py, which needs hypothesis. The
# repository's conftest.py collects the docs with sybil: --noconftest skips it (and
# tests/conftest.py's parametrization, which only the LossContract classes use, not these
# files); -p no:cacheprovider writes nothing into the tree.
tests=(tests/test_no_sync.py tests/test_new_losses_cuda.py
       tests/test_binary_cross_entropy.py::test_cuda_autocast_refuses_torch_bce
       tests/test_lovasz.py::test_cuda_matches_the_cpu_without_a_sync
       tests/test_clip.py::test_no_host_sync_on_cuda_with_a_learned_scale_and_bias
       tests/test_angular_margin.py::test_cuda_equals_cpu_without_host_sync
       tests/test_asymmetric.py::test_sum_equals_the_reference_on_cuda
       tests/test_preference.py::test_sequence_log_probs_no_host_sync_on_cuda
       tests/test_linear_cross_entropy.py::test_cuda_equals_materialized_without_sync)
if python3 -c "import pytest, hypothesis" 2> /dev/null; then
    say "CUDA tests: ${tests[*]} (limit $TEST_TIMEOUT s)"
    timeout "$TEST_TIMEOUT" python3 -m pytest "${tests[@]}" -k "cuda or value_checks_true" -q \
        --maxfail=25 -p no:randomly -p no:cacheprovider --noconftest -o addopts="" \
        -o minversion=1 -W "ignore::DeprecationWarning" --junitxml="$OUT/pytest.xml" 2>&1 \
        | tee "$OUT/pytest.log" | tail -25
    say "pytest exit status ${PIPESTATUS[0]}"
else
    say "pytest or hypothesis is not importable: CUDA tests skipped (put wheels in .whl/)"
fi
say "done; results in $OUT"
ls -la "$OUT" "$OUT/docs/performance" 2> /dev/null

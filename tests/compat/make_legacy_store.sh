#!/usr/bin/env bash
# Rebuild tests/compat/legacy_store/ with an OLD tfcli checkout (the one given as $1).
#
#   . .venv/bin/activate && tests/compat/make_legacy_store.sh /tmp/legacy   # worktree of 62916b1
#
# It writes two tiny studies into $ROOT (default /tmp/tfcli-legacy-store-root; the test
# replaces that exact prefix, which is recorded in legacy_store/ORIGIN.json):
#   legacy-done         random search, 3 trials, ASHA, finished
#   legacy-interrupted  random search, 3 trials, max_concurrent 1, fifo, 200 steps; Ctrl-C
#                       (SIGINT) sent to `tfcli study start` once the first trial has FINISHED
#                       and the second has logged a metric: the second ends KILLED, the third
#                       never starts, and the study is resumable
# then strips what neither reading nor resuming needs (see legacy_store/README.md) and copies
# the result into tests/compat/legacy_store/. Needs the project's venv active (python with
# torch, ray and mlflow); takes about a minute on 2 CPU cores.
set -euo pipefail

LEGACY=$(cd "${1:?usage: $0 OLD_CHECKOUT}" && pwd)
ROOT=${ROOT:-/tmp/tfcli-legacy-store-root}
HERE=$(cd "$(dirname "$0")" && pwd)
DEST="$HERE/legacy_store"

export PYTHONPATH="$LEGACY"
export RAY_USAGE_STATS_ENABLED=0 TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=1 OMP_NUM_THREADS=1 COLUMNS=160
export TFCLI_CACHE="$ROOT.cache"
unset MLFLOW_TRACKING_URI

rm -rf "$ROOT" "$TFCLI_CACHE"
mkdir -p "$ROOT"
cd "$ROOT"
python -c 'import sys, tfcli; assert tfcli.__file__.startswith(sys.argv[1] + "/"), tfcli.__file__' "$LEGACY"

study() {  # NAME SAMPLES STEPS MAX_CONCURRENT SCHEDULER
cat <<YAML
name: $1
task: {type: translation, data: 'builtin:dates'}
model: {d_model: 32, heads: 2, encoder_layers: 1, decoder_layers: 1, ffn_dim: 64}
train: {lr: 3.0e-3, warmup_steps: 5, batch_tokens: 1024, max_steps: $3, eval_every: 10}
objective: {metric: chrf, mode: max}
data: {vocab_size: 200, train_size: 200, valid_size: 16, test_size: 16}
search:
  method: random
  num_samples: $2
  max_concurrent: $4
  seed: 5
  parameters:
    train.lr: {distribution: log_uniform, min: 1.0e-3, max: 1.0e-2}
    model.d_model: {values: [16, 32]}
scheduler: $5
budget: {max_failures: 0}
YAML
}

study legacy-done 3 20 2 '{type: asha, grace_period: 10, reduction_factor: 2}' > legacy-done.yaml
study legacy-interrupted 3 200 1 '{type: fifo}' > legacy-interrupted.yaml

python -m tfcli study start legacy-done.yaml

python - <<'PY'
import os, signal, sqlite3, subprocess, sys, time

proc = subprocess.Popen([sys.executable, "-m", "tfcli", "study", "start", "legacy-interrupted.yaml"], start_new_session=True)
TRIALS = (
    "SELECT r.status, (SELECT count(*) FROM metrics m WHERE m.run_uuid = r.run_uuid) FROM runs r "
    "JOIN experiments e USING (experiment_id) "
    "JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'tfcli.role' AND t.value = 'trial' "
    "WHERE e.name = 'legacy-interrupted'"
)

def ready():
    try:
        with sqlite3.connect("file:mlruns/mlflow.db?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute(TRIALS).fetchall()
    except sqlite3.Error:
        return False
    return any(s == "FINISHED" for s, _ in rows) and any(s == "RUNNING" and n for s, n in rows)

deadline = time.monotonic() + 600
while not ready():
    if proc.poll() is not None or time.monotonic() > deadline:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        sys.exit(f"legacy-interrupted: never had one finished and one running trial (exit {proc.returncode})")
    time.sleep(0.2)
os.kill(proc.pid, signal.SIGINT)
code = proc.wait(timeout=120)
print(f"legacy-interrupted: stopped with exit code {code}")
if code == 0:
    sys.exit("the study finished before Ctrl-C reached it; give it more max_steps")
PY

python -m tfcli study status legacy-done
python -m tfcli study status legacy-interrupted

# ---- strip what neither reading nor resuming needs, then copy into the repository ----------
# * trainer_state.pt (optimizer state) in the MLflow checkpoint artifacts: `tfcli export`
#   never downloads it, and no finished trial is trained again;
# * the Ray checkpoints of the TERMINATED (finished) trials: resume does not restart them and
#   extend starts a new Tune experiment NAME-ext1. The KILLED trial keeps all of its Ray
#   checkpoints (resume restarts it from the latest one and logs the best one to MLflow).
python - "$LEGACY" "$ROOT" <<'PY'
import glob, json, os, shutil, subprocess, sys, datetime
import mlflow, ray, torch

legacy, root = sys.argv[1:]
mlruns = os.path.join(root, "mlruns")
for path in glob.glob(f"{mlruns}/artifacts/*/*/artifacts/checkpoint/trainer_state.pt"):
    os.remove(path)
for state_file in glob.glob(f"{mlruns}/ray/*/experiment_state-*.json"):
    experiment = os.path.dirname(state_file)
    for trial_json, _ in json.load(open(state_file))["trial_data"]:
        trial = json.loads(trial_json)
        if trial["status"] == "TERMINATED":
            for checkpoint in glob.glob(os.path.join(glob.escape(experiment), trial["relative_logdir"], "checkpoint_*")):
                shutil.rmtree(checkpoint)
commit = subprocess.run(["git", "-C", legacy, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = bool(subprocess.run(["git", "-C", legacy, "status", "--porcelain", "--", "tfcli"], capture_output=True, text=True).stdout.strip())
origin = {
    "root": root,
    "tfcli_commit": commit,
    "tfcli_dirty": dirty,
    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "versions": {"ray": ray.__version__, "mlflow": mlflow.__version__, "torch": torch.__version__},
    "studies": {"legacy-done": "finished", "legacy-interrupted": "interrupted (Ctrl-C), resumable"},
}
json.dump(origin, open(os.path.join(root, "ORIGIN.json"), "w"), indent=2)
PY

rm -rf "$DEST/mlruns" "$DEST"/*.yaml "$DEST/ORIGIN.json"
mkdir -p "$DEST"
cp -a "$ROOT/mlruns" "$ROOT/legacy-done.yaml" "$ROOT/legacy-interrupted.yaml" "$ROOT/ORIGIN.json" "$DEST/"
rm -rf "$TFCLI_CACHE"
du -sh "$DEST"
rm -rf "$ROOT"  # so that nothing can silently use the original location instead of a copy

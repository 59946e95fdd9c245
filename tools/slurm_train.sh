#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one task per GPU, mmengine reads the Slurm variables.
#
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]
#
# GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK (default 5) and SRUN_ARGS
# (extra srun options) come from the environment; e.g. 4 nodes of 8 GPUs:
#   GPUS=32 tools/slurm_train.sh gpu fcmae-tiny configs/fcmae/fcmae_convnextv2-tiny_32xb128-800e_in1k.py work_dirs/fcmae-tiny
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]" >&2
  exit 2
fi
partition=$1
job_name=$2
config=$3
work_dir=$4
shift 4
gpus=${GPUS:-8}
gpus_per_node=${GPUS_PER_NODE:-8}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
srun -p "$partition" --job-name="$job_name" --gres=gpu:"$gpus_per_node" \
  --ntasks="$gpus" --ntasks-per-node="$gpus_per_node" --cpus-per-task="${CPUS_PER_TASK:-5}" \
  --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
  "$python" -u "$repo/tools/train.py" "$config" --work-dir "$work_dir" --launcher slurm "$@"

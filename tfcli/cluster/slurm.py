"""An sbatch script that runs a study on a Ray cluster inside a SLURM allocation.

The script starts a Ray head on the allocation's first node and a Ray worker on each other
node (one ``srun`` step each, ``ray start --block``), waits until every node has joined
(``tfcli cluster wait``), runs ``tfcli study start FILE --address HEAD:PORT`` from the batch
host (the first node), and stops Ray on every node when the script exits for any reason
(``trap ... EXIT``). Each job makes a fresh Ray token (``RAY_AUTH_MODE=token``), so only its
own processes can join its cluster.

Near the time limit SLURM signals the script (:data:`REQUEUE_DIRECTIVES`); it passes SIGTERM
on to the study, which stops as at Ctrl-C and exits 143, and then requeues the job, whose
next run (``SLURM_RESTART_COUNT`` > 0) resumes the study (:func:`study_lines`).
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tfcli import __version__
from tfcli.cluster.signals import EXIT_TERMINATED
from tfcli.errors import ClusterError

TIME_PATTERN = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")
WAIT_TIMEOUT_S = 600

#: SIGTERM to the batch script alone, this many seconds before the time limit: the study
#: stops within SLURM's 30 s grace, and Ray and the requeue get the rest.
SIGNAL_LEAD_S = 120
REQUEUE_DIRECTIVES = ("--requeue", f"--signal=B:TERM@{SIGNAL_LEAD_S}")


@dataclass(frozen=True)
class SlurmOptions:
    nodes: int
    cpus_per_node: int
    gpus_per_node: int
    time: str
    partition: str | None = None
    port: int = 6379
    exclusive: bool = True
    setup: list[str] = field(default_factory=list)
    storage: str | None = None
    tracking_uri: str | None = None
    num_samples: int | None = None
    max_concurrent: int | None = None


def default_setup() -> list[str]:
    """Activate this virtual environment on the nodes (a shared file system is assumed)."""
    if sys.prefix != sys.base_prefix:
        return [f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}"]
    return []


def check_options(spec, options: SlurmOptions) -> None:
    if not TIME_PATTERN.match(options.time):
        raise ClusterError(f"--time must be HH:MM:SS or D-HH:MM:SS, but got {options.time!r}")
    if spec.resources.gpu > options.gpus_per_node:
        raise ClusterError(
            f"a trial must fit on one node, but resources.gpu is {spec.resources.gpu:g} and --gpus-per-node is "
            f"{options.gpus_per_node}"
        )
    if spec.resources.cpu > options.cpus_per_node:
        raise ClusterError(
            f"a trial must fit on one node, but resources.cpu is {spec.resources.cpu:g} and --cpus-per-node is "
            f"{options.cpus_per_node}"
        )


def _directives(spec, options: SlurmOptions) -> list[str]:
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", spec.name)[:60]
    directives = [
        f"--job-name=tfcli-{name}",
        f"--nodes={options.nodes}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={options.cpus_per_node}",
    ]
    if options.gpus_per_node:
        directives.append(f"--gpus-per-node={options.gpus_per_node}")
    directives.append(f"--time={options.time}")
    if options.partition:
        directives.append(f"--partition={options.partition}")
    if options.exclusive:
        directives.append("--exclusive")  # Ray's fixed ports must not meet another job's
    directives.append("--output=tfcli-%x-%j.out")
    directives.extend(REQUEUE_DIRECTIVES)
    return directives


def _study_command(options: SlurmOptions) -> str:
    q = shlex.quote
    study = ["tfcli", "study", "start", '"$STUDY_FILE"', "--address", '"$RAY_ADDRESS_HEAD"']
    if options.storage:
        study += ["--storage", q(options.storage)]
    if options.tracking_uri:
        study += ["--tracking-uri", q(options.tracking_uri)]
    if options.num_samples:
        study += ["--num-samples", str(options.num_samples)]
    if options.max_concurrent:
        study += ["--max-concurrent", str(options.max_concurrent)]
    return " ".join(study)


#: The job's Ray cluster: a fresh token, the head node's address, Ray stopped on every node
#: when the script exits.
_RAY_HEAD = [
    "# A fresh token for this job's Ray cluster: only processes that have it can join.",
    "export RAY_AUTH_MODE=token",
    "RAY_AUTH_TOKEN=\"$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')\"",
    "export RAY_AUTH_TOKEN",
    "",
    "mapfile -t NODES < <(scontrol show hostnames \"$SLURM_JOB_NODELIST\")",
    "HEAD_NODE=\"${NODES[0]}\"",
    "HEAD_IP=\"$(srun --nodes=1 --ntasks=1 --nodelist=\"$HEAD_NODE\" hostname --ip-address | awk '{print $1}')\"",
    "RAY_ADDRESS_HEAD=\"$HEAD_IP:$RAY_PORT\"",
    "echo \"Ray head on $HEAD_NODE at $RAY_ADDRESS_HEAD; ${#NODES[@]} node(s): ${NODES[*]}\"",
    "",
    "RAY_STEPS=()",
    "stop_ray() {",
    "  local status=$?",
    "  trap - EXIT",
    "  echo \"Stopping Ray on ${#NODES[@]} node(s)\"",
    "  for pid in ${RAY_STEPS[@]+\"${RAY_STEPS[@]}\"}; do kill \"$pid\" 2>/dev/null || true; done",
    "  srun --overlap --nodes=\"${#NODES[@]}\" --ntasks-per-node=1 ray stop --force >/dev/null 2>&1 || true",
    "  wait || true",
    "  exit \"$status\"",
    "}",
    "trap stop_ray EXIT",
]

#: Ray's head on the first node, then a worker on each other node, each waited for.
_RAY_NODES = [
    "srun --nodes=1 --ntasks=1 --cpus-per-task=\"$CPUS_PER_NODE\" --nodelist=\"$HEAD_NODE\" \\",
    "  ray start --head --block --node-ip-address=\"$HEAD_IP\" --port=\"$RAY_PORT\" \\",
    "  --num-cpus=\"$CPUS_PER_NODE\" --num-gpus=\"$GPUS_PER_NODE\" --include-dashboard=false &",
    "RAY_STEPS+=(\"$!\")",
    f"tfcli cluster wait --address \"$RAY_ADDRESS_HEAD\" --nodes 1 --timeout {WAIT_TIMEOUT_S}",
    "",
    "for node in \"${NODES[@]:1}\"; do",
    "  srun --nodes=1 --ntasks=1 --cpus-per-task=\"$CPUS_PER_NODE\" --nodelist=\"$node\" \\",
    "    ray start --block --address=\"$RAY_ADDRESS_HEAD\" \\",
    "    --num-cpus=\"$CPUS_PER_NODE\" --num-gpus=\"$GPUS_PER_NODE\" &",
    "  RAY_STEPS+=(\"$!\")",
    "done",
    f"tfcli cluster wait --address \"$RAY_ADDRESS_HEAD\" --nodes \"${{#NODES[@]}}\" --timeout {WAIT_TIMEOUT_S}",
]


def sbatch_script(study_file: Path, spec, options: SlurmOptions) -> str:
    """The text of the sbatch script for the study in ``study_file`` (validated as ``spec``)."""
    check_options(spec, options)
    setup = options.setup if options.setup else default_setup()
    lines = [
        "#!/bin/bash",
        f"# Written by `tfcli cluster slurm` (tfcli {__version__}) for the study {spec.name!r}.",
        "# A Ray head on the first node, a Ray worker on each other node, the study on top;",
        "# Ray stops on every node when this script exits. Submit with: sbatch THIS_FILE",
        *(f"#SBATCH {d}" for d in _directives(spec, options)),
        "",
        "set -euo pipefail",
        "",
        *setup,
        "",
        f"STUDY_FILE={shlex.quote(str(study_file.resolve()))}",
        f"RAY_PORT={options.port}",
        f"CPUS_PER_NODE={options.cpus_per_node}",
        f"GPUS_PER_NODE={options.gpus_per_node}",
        "",
        *_RAY_HEAD,
        "",
        *_RAY_NODES,
        "",
        *study_lines(_study_command(options), spec.name, options),
        "",
    ]
    return "\n".join(lines)


def study_lines(start: str, name: str, options: SlurmOptions) -> list[str]:
    """Run the study (the command ``start``, or ``tfcli study resume`` in a requeued run) in
    the background, pass SIGTERM on to it, and requeue the job when it stopped for that
    (exit 143; :data:`tfcli.cluster.signals.EXIT_TERMINATED`). Bash runs a trap only between
    commands, hence the background study and ``wait``, again after the trap."""
    resume = ["tfcli", "study", "resume", shlex.quote(name), "--address", '"$RAY_ADDRESS_HEAD"']
    if options.storage:
        resume += ["--storage", shlex.quote(options.storage)]
    if options.tracking_uri:
        resume += ["--tracking-uri", shlex.quote(options.tracking_uri)]
    return [
        "# Near the time limit SLURM sends SIGTERM to this script: stop the study (it saves its",
        "# state and exits 143), then requeue the job; the requeued run resumes the study.",
        "STUDY_PID=\"\"",
        "stop_study() { echo \"Time limit near: stopping the study\"; [ -z \"$STUDY_PID\" ] || kill -TERM \"$STUDY_PID\" 2>/dev/null || true; }",
        "trap stop_study TERM",
        "if [ \"${SLURM_RESTART_COUNT:-0}\" -gt 0 ]; then",
        f"  {' '.join(resume)} &",
        "else",
        f"  {start} &",
        "fi",
        "STUDY_PID=$!",
        "STUDY_STATUS=0",
        "while kill -0 \"$STUDY_PID\" 2>/dev/null; do STUDY_STATUS=0; wait \"$STUDY_PID\" || STUDY_STATUS=$?; done",
        f"if [ \"$STUDY_STATUS\" -eq {EXIT_TERMINATED} ]; then",
        "  echo \"Requeueing job $SLURM_JOB_ID; its next run resumes the study\"",
        "  scontrol requeue \"$SLURM_JOB_ID\"",
        "fi",
        "exit \"$STUDY_STATUS\"",
    ]

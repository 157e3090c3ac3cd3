"""Running studies on clusters: pre-flight checks of a Ray cluster, Ray Jobs, SLURM scripts.

- :mod:`tfcli.cluster.checks`: before any trial starts on an existing cluster, check that
  every node can import tfcli and, on more than one node, that Ray's storage is shared.
- :mod:`tfcli.cluster.jobs`: submit a study as a Ray job and follow, inspect or stop it.
- :mod:`tfcli.cluster.slurm`: an sbatch script that starts a Ray cluster inside a SLURM
  allocation and runs a study on it.
- :mod:`tfcli.cluster.signals`: SIGTERM stops a study as Ctrl-C does, also when it reaches
  the embedded Ray's processes.

Ray is imported inside functions, so importing this package stays cheap.
"""

"""Shared pieces of the benchmark scripts: the method registry, the data set shortcuts, baselines, scores, tables.

- :mod:`harness.methods`: every method ``run.py`` knows (semst_sc variants, baselines, peers), one entry each;
- :mod:`harness.datasets`: the data set shortcuts (loader, label column, K, organism), one line each;
- :mod:`harness.baselines`: the PCA baselines;
- :mod:`harness.scores`: ARI and NMI on the labelled spots;
- :mod:`harness.tables`: Markdown tables;
- :mod:`harness.peer_io`: the command line between ``run.py`` and a peer's runner (imports only anndata, numpy and
  pandas, so the peer environments can import it).

The scripts in ``benchmarks/`` put their own folder on ``sys.path`` and import ``harness.<module>``. This file
imports nothing, so a peer runner that reads :mod:`harness.peer_io` needs neither semst_sc nor scanpy.
Only public semst_sc names are used here and in the scripts (``tests/test_benchmark_harness.py`` checks it).
"""

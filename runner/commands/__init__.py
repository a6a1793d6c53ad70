"""What ``load`` and ``run`` do, beneath the command line: the loader (input
files into the queue), the run (load, supervise, hand over, show progress) and its outcome.

The top stage below runner.cli: it may import every other stage."""

"""Developer tools for measuring edi-cgt (not installed): two corpus builders (corpus.py, the project's
generator; shapes.py, real claims replicated into other shapes) and the benchmark (run.py, runner.py)."""

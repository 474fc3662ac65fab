"""Developer tools for measuring edi-cgt: the corpus generator and the benchmark runner (not installed)."""

"""Side-by-side benchmarks of skillstream and its peers: ``python -m benchmarks --help``."""

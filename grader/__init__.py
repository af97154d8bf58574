"""The grading suite: sandboxed probes, trusted comparison against PyTorch and the reference."""

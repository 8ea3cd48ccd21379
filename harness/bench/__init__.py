"""`poolfuzz bench`: what the reference allocator and the harness cost, in figures."""

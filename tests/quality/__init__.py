"""The quality of the harness, measured with seeded bugs (`harness.mutants`)."""

"""smlocal's built-in algorithms (NTM, MLP), run in their images under the SageMaker
container contract; see algorithms/README.md."""

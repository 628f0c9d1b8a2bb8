"""What the algorithms share: the container contract (``contract``), hyperparameter specs
(``hyperparameters``, standard library only, also used by the runner), torch helpers
(``torchkit``) and the epoch loop (``training``)."""

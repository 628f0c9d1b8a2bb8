"""Jobs that run on SageMaker itself, followed from here."""

"""AWS's shapes: botocore's SageMaker service model (validation and wire shapes), statuses, ARNs."""

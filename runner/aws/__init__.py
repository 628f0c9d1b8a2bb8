"""The AWS edge: the only package that builds boto3 clients (S3, CloudWatch)."""

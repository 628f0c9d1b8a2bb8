"""The front ends over the service."""

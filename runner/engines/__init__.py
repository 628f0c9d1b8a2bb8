"""Where containers run: the backend protocol and its implementations."""

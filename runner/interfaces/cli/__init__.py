"""``smlocal``, the command line."""

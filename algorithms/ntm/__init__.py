"""Neural Topic Model (``python3 -m algorithms.ntm`` trains under the container contract)."""

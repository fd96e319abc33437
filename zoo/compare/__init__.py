"""zoo-compare and zoo-board: finished runs side by side, read from their TensorBoard event files, in tables and
figures, and TensorBoard served on zoo's log folder."""

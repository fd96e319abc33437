"""A run's folder and what it holds: the folder itself and its record, checkpoint files (read safely, brought up to
date), export folders, the HPARAMS row, and finished runs grouped for comparison."""

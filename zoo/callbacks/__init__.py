"""What every run's training loop gets beside the task and its views: checkpoints written safely, progress,
TensorBoard's extras, the trackers (MLflow, W&B), the throughput clock and the loop's guards."""

"""zoo-export: a trained model taken out of zoo (ONNX, torch.export, safetensors), each file checked against the
checkpoint's model on the test split, with config.json and a model card."""

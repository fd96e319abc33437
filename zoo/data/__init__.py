"""Data sets as LightningDataModules that declare their input shape, class count and class names."""

"""A trained model at work: rebuilt from its checkpoint (or export folder) with torch alone to predict
(`zoo-predict`, `zoo.load`) and to sample text (`zoo-generate`); put back in its task to be tested (`zoo-eval`) or
opened with its data in a notebook (`zoo.open_run`)."""

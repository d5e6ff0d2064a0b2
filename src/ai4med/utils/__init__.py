"""Clara's `ai4med.utils`: the helpers custom components call."""

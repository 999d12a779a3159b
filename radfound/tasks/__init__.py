"""What the model is asked to do: draft a report, answer a question, locate a finding (one prompt format)."""

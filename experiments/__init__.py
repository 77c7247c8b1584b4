"""Scripts that reproduce results: `python -m experiments.<name>`."""

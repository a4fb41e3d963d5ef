"""What the running pipeline tells Prometheus (docs/CONTRACT.md §5): the metrics, the
streaming-query listener that feeds most of them, and how a one-shot run hands them over."""

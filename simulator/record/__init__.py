"""Record and replay: a recording proxy writing HAR 1.2, replay of a recording, and conformance reports."""

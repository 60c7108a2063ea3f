"""The simulated world's state: records in a store, one module per resource, and the backend."""

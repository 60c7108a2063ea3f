"""The HTTP layer: thin handlers per resource, the route table as data, and the control namespace."""

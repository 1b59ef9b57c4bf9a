"""HTTP handlers, one module per noun: policy check, schema, one domain call, serialize."""

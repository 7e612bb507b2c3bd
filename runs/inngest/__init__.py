"""The Inngest SDK wire protocol, as pure functions (no database, no HTTP client): signatures, step ids,
function configuration, CEL expressions, Call Request bodies and SDK answers. The HTTP driver
(runs/engine/http_driver.py), the store and the endpoints (runs/inngest_api.py) build on it."""

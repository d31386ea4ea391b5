"""The stores and brokers: the contract suites and each store's own tests, in process, on
SQLite files and the real PostgreSQL, Redis and RabbitMQ servers."""

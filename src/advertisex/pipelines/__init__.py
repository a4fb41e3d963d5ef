"""One module per layer; each exposes ``run(spark, cfg, ...)``. :mod:`.runner` orders them."""

"""One module per job (``advertisex run JOB``, ``jobs/JOB.py``), each exposing
``run(spark, cfg, *, once=...)``; the streaming jobs also expose ``streams(spark, cfg)``,
their queries. :mod:`~advertisex.pipelines.runner` orders them."""

"""The composition root: puts the service and the staff admin together (the only package importing both).

``planwise.app.create_app`` is the application, ``planwise.cli.main`` the ``planwise`` command,
``planwise.migrate`` the database schema of both (each owns its migration files).
"""
